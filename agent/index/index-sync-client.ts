import {
  INDEX_WINDOW, MAX_INDEX_BATCH_ENTRIES, UdnsError,
  type AgentMessage, type IndexAck, type IndexEntry, type IndexRefused, type IndexWanted,
} from '../../protocol/index.js';
import type { AgentLogger } from '../agent-logger.js';
import { BatchBuilder } from './index-batches.js';
import type { ShareIndex } from './share-index.js';

/** What the sync needs of a listed share (SyncedShare; a bench gives a synthetic one). */
export interface SyncedShare {
  readonly index: ShareIndex;
  readonly locked: boolean;
  readonly expiresAtMs: number | null;
  readonly refused: UdnsError | null;
  readonly isClosed: boolean;
  ready(): Promise<void>;
  refuse(error: UdnsError): void;
  /** The edge accepted the listing (its indexWanted came), asking for `wanted` buckets. */
  accepted?(wanted: number): void;
}

/** Changes are gathered this long before they go out as one delta (a copy of 1,000 files is a few batches, not 1,000). */
export const DEFAULT_FLUSH_DELAY_MS = 1000;

/** One listed share's sync on this tunnel. */
interface ShareSync {
  readonly routeId: string;
  readonly share: SyncedShare;
  /** waiting: for the first scan; summary: listShare sent, for indexWanted; sending: wanted buckets; live: deltas. */
  phase: 'waiting' | 'summary' | 'sending' | 'live';
  readonly wanted: number[];
  /** The bucket being sent in full: its entries as they were when its reset was sent. */
  current: { entries: IndexEntry[]; next: number } | null;
  /** Paths changed since the summary (or since their bucket was sent), by bucket. */
  readonly dirty: Map<number, Set<string>>;
  dirtyCount: number;
  flushDue: boolean;
  flushTimer: NodeJS.Timeout | null;
  unsubscribe: () => void;
}

/**
 * The agent's side of the index sync on one tunnel (protocol/index-sync.ts). Per listed share:
 * once the edge published the route and the first scan is done, `listShare` with the bucket
 * digests; the buckets the edge wants, in full (`reset` in the first batch carrying each);
 * then the changes as deltas. Batches of all shares share one sequence and one window of
 * INDEX_WINDOW unacknowledged batches, as the edge counts them per tunnel.
 *
 * A change made while a bucket is being sent is not lost: the bucket's entries are taken when
 * its reset goes out, and every change after that is a delta sent after the wanted buckets.
 * A new tunnel gets a new client, which starts over with the summary.
 */
export class IndexSyncClient {
  private readonly shares = new Map<string, ShareSync>();
  /** Unacknowledged batches: seq → route. */
  private readonly inFlight = new Map<number, string>();
  private nextSeq = 0;
  private nextRequestId = 1;
  private closed = false;
  /** Where the next pump starts, so that one busy share does not starve the others. */
  private turn = 0;

  constructor(
    private readonly send: (message: AgentMessage) => void,
    private readonly logger: AgentLogger,
    private readonly flushDelayMs = DEFAULT_FLUSH_DELAY_MS,
  ) {}

  /** Batches sent and not yet acknowledged. */
  get unacknowledged(): number {
    return this.inFlight.size;
  }

  /** Starts syncing a share the edge just published as `routeId`. */
  list(routeId: string, share: SyncedShare): void {
    if (this.closed || share.refused !== null || share.isClosed) return;
    const sync: ShareSync = {
      routeId, share, phase: 'waiting', wanted: [], current: null, dirty: new Map(), dirtyCount: 0, flushDue: false, flushTimer: null, unsubscribe: () => {},
    };
    this.shares.set(routeId, sync);
    share.ready().then(() => {
      if (this.shares.get(routeId) !== sync || this.closed || share.refused !== null) return;
      sync.unsubscribe = share.index.onChange((path, bucket) => this.changed(sync, path, bucket));
      sync.phase = 'summary';
      this.send({
        type: 'listShare', requestId: this.nextRequestId++, routeId, locked: share.locked,
        ...(share.expiresAtMs === null ? {} : { expiresAt: share.expiresAtMs }),
        summary: share.index.summary(),
      });
    }, () => {});
  }

  handle(message: IndexWanted | IndexAck | IndexRefused): void {
    if (this.closed) return;
    switch (message.type) {
      case 'indexWanted': {
        const sync = this.shares.get(message.routeId);
        if (sync === undefined || sync.phase === 'waiting') {
          this.logger.debug({ routeId: message.routeId }, 'indexWanted for a share not listed on this tunnel');
          return;
        }
        const queued = new Set(sync.wanted);
        for (const bucket of message.buckets) if (!queued.has(bucket)) sync.wanted.push(bucket);
        if (sync.phase === 'summary') sync.share.accepted?.(message.buckets.length);
        sync.phase = 'sending';
        break;
      }
      case 'indexAck':
        if (!this.inFlight.delete(message.seq)) this.logger.debug({ seq: message.seq }, 'indexAck for no batch in flight');
        break;
      case 'indexRefused': {
        const sync = this.shares.get(message.routeId);
        if (sync === undefined) return;
        // Its batches still in flight stay counted: the edge acknowledges (and drops) each of them.
        this.drop(sync);
        sync.share.refuse(new UdnsError(message.code, message.message));
        break;
      }
    }
    this.pump();
  }

  /** The share stops being listed (Ctrl-C, route removed): tells the edge, which drops it from results. */
  unlist(routeId: string): void {
    const sync = this.shares.get(routeId);
    if (sync === undefined) return;
    this.drop(sync);
    if (sync.phase !== 'waiting' && !this.closed) this.send({ type: 'unlistShare', routeId });
  }

  /** unlist for every share; true when a message was sent. */
  unlistAll(): boolean {
    const listed = [...this.shares.values()].some((sync) => sync.phase !== 'waiting');
    for (const routeId of [...this.shares.keys()]) this.unlist(routeId);
    return listed && !this.closed;
  }

  /** The edge took the route away: nothing to tell it. */
  forget(routeId: string): void {
    const sync = this.shares.get(routeId);
    if (sync !== undefined) this.drop(sync);
  }

  /** The tunnel is gone: stop, send nothing more. */
  close(): void {
    this.closed = true;
    for (const sync of [...this.shares.values()]) this.drop(sync);
    this.inFlight.clear();
  }

  private drop(sync: ShareSync): void {
    sync.unsubscribe();
    if (sync.flushTimer !== null) clearTimeout(sync.flushTimer);
    if (this.shares.get(sync.routeId) === sync) this.shares.delete(sync.routeId);
  }

  private changed(sync: ShareSync, path: string, bucket: number): void {
    let paths = sync.dirty.get(bucket);
    if (paths === undefined) sync.dirty.set(bucket, paths = new Set());
    if (paths.has(path)) return;
    paths.add(path);
    sync.dirtyCount++;
    if (sync.dirtyCount >= MAX_INDEX_BATCH_ENTRIES || sync.flushDue) {
      sync.flushDue = true;
      this.pump();
    } else if (sync.flushTimer === null && !sync.flushDue) {
      sync.flushTimer = setTimeout(() => {
        sync.flushTimer = null;
        sync.flushDue = true;
        this.pump();
      }, this.flushDelayMs);
      sync.flushTimer.unref();
    }
  }

  /** Sends batches while the window has room and some share has something to send. */
  private pump(): void {
    while (!this.closed && this.inFlight.size < INDEX_WINDOW) {
      const ready = [...this.shares.values()].filter((sync) => sync.phase === 'sending' || (sync.phase === 'live' && sync.flushDue && sync.dirtyCount > 0));
      if (ready.length === 0) return;
      const sync = ready[this.turn++ % ready.length]!;
      const batch = new BatchBuilder(sync.routeId, this.nextSeq);
      if (sync.phase === 'sending') this.fillWanted(sync, batch);
      else this.fillDeltas(sync, batch);
      if (batch.isEmpty) {
        if (sync.phase === 'sending') return;
        continue;
      }
      this.inFlight.set(this.nextSeq++, sync.routeId);
      this.send(batch.build());
    }
  }

  private fillWanted(sync: ShareSync, batch: BatchBuilder): void {
    for (;;) {
      if (sync.current === null) {
        const bucket = sync.wanted[0];
        if (bucket === undefined) {
          sync.phase = 'live';
          // A flush that fell due while buckets went in full may have had its paths sent with
          // them: due only if something is left, or no later change would ever schedule one.
          sync.flushDue = sync.dirtyCount > 0;
          return;
        }
        if (!batch.addReset(bucket)) return;
        sync.wanted.shift();
        // From here the bucket goes in full as it is now; changes to it become deltas again.
        const dirty = sync.dirty.get(bucket);
        if (dirty !== undefined) {
          sync.dirtyCount -= dirty.size;
          sync.dirty.delete(bucket);
        }
        sync.current = { entries: sync.share.index.bucketEntries(bucket), next: 0 };
      }
      const current = sync.current;
      while (current.next < current.entries.length) {
        if (!batch.addUpsert(current.entries[current.next]!)) return;
        current.next++;
      }
      sync.current = null;
    }
  }

  private fillDeltas(sync: ShareSync, batch: BatchBuilder): void {
    for (const [bucket, paths] of sync.dirty) {
      for (const path of paths) {
        const entry = sync.share.index.get(path);
        if (!(entry === undefined ? batch.addRemove(path) : batch.addUpsert(entry))) return;
        paths.delete(path);
        sync.dirtyCount--;
      }
      sync.dirty.delete(bucket);
    }
    sync.flushDue = false;
  }
}
