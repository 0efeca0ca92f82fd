import {
  INDEX_BUCKETS,
  INDEX_WINDOW,
  MAX_ROUTES_PER_TUNNEL,
  UdnsError,
  differingBuckets,
  isUdnsError,
  parseBucketDigests,
  type EdgeMessage,
  type ErrorCode,
  type IndexBatch,
  type ListShare,
  type UnlistShare,
} from '../../protocol/index.js';
import type { Logger } from '../logger.js';
import type { DebtBucket } from './index-rate.js';
import type { IndexSync } from './index-sync.js';

/** The index messages an agent sends. */
export type IndexSyncMessage = ListShare | IndexBatch | UnlistShare;

/** What a sync session needs of its tunnel (server/tunnel/tunnel-session.ts provides it). */
export interface IndexSyncTunnel {
  readonly id: string;
  readonly accountId: number;
  readonly logger: Logger;
  /** The name of this tunnel's live http route `routeId`; undefined for a tcp route or one it does not hold. */
  httpRouteLabel(routeId: string): string | undefined;
  /** True when `routeId` is one of this tunnel's live routes (http or tcp). */
  holdsRoute(routeId: string): boolean;
  send(message: EdgeMessage): void;
  /** Ends the tunnel with this error (a protocol violation). */
  fail(error: UdnsError): void;
}

/**
 * What `listShare` costs in the rate buckets: the edge computes the share's 4096 bucket digests
 * from what it stored, as much work as resetting every bucket. A batch costs 1 + its entries +
 * its reset buckets.
 */
export const LIST_SHARE_COST = INDEX_BUCKETS;
/**
 * listShare/unlistShare messages a tunnel may have waiting (batches have their window): twice
 * the routes a tunnel can hold, so an agent listing every route at once never meets it, and one
 * repeating listShare (32 KiB each) cannot queue memory without end while the rate holds it.
 */
export const MAX_WAITING_INDEX_REQUESTS = 2 * MAX_ROUTES_PER_TUNNEL;
/** Routes this tunnel held and lost (withdrawn, replaced, released) remembered for late messages. */
const GONE_ROUTES_KEPT = 256;

interface Listing {
  readonly label: string;
  /**
   * `opening`: openShare is on its way (writes for the label queue behind it); `refused`: the
   * edge said indexRefused, and batches still in flight are acknowledged and dropped.
   */
  state: 'opening' | 'listed' | 'refused';
  readonly expiresAt: number | null;
  /** Drops the share at its expiry while the tunnel lives (the sweep takes those of gone tunnels). */
  expiryTimer?: NodeJS.Timeout;
}

/** Longest delay setTimeout takes; a later expiry is left to the sweep. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * One tunnel's index sync (protocol/index-sync.ts). Messages are handled strictly in the order
 * they came, one at a time: the control channel hands them over without waiting, so they are
 * queued here. Rules:
 * - `listShare` only for this tunnel's own http routes; anything else is a protocol violation.
 *   A message for a route the tunnel held and lost (the edge replaced or released it, or the
 *   agent withdrew it) is late, not hostile: batches are acknowledged and dropped, the rest ignored.
 * - `seq` counts from 0 per tunnel; more than INDEX_WINDOW unacknowledged batches, a wrong
 *   `seq`, or a batch for a share that was never listed is a protocol violation.
 * - The update rate is held by waiting before a batch is applied, so its ack comes later; the
 *   agent's window then fills and it slows down. Nothing is refused for speed.
 * - A limit (`index_limit`), `--search off` (`forbidden`), an expired share or a database error
 *   refuses that share only (indexRefused, and it leaves the index); the tunnel stays.
 * Every batch gets its ack, applied or dropped, so the agent's window never leaks.
 */
export class IndexSyncSession {
  private readonly listings = new Map<string, Listing>();
  private readonly goneRoutes = new Set<string>();
  private nextSeq = 0;
  private unacknowledged = 0;
  /** listShare/unlistShare received and not yet handled. */
  private waitingRequests = 0;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly sleepers = new Set<() => void>();
  private readonly logger: Logger;

  constructor(
    private readonly sync: IndexSync,
    private readonly tunnel: IndexSyncTunnel,
    private readonly tunnelBucket: DebtBucket,
    private readonly accountBucket: DebtBucket,
    private readonly onClosed: () => void,
  ) {
    this.logger = tunnel.logger.child({ component: 'index-sync' });
  }

  /** Takes one message from the control channel. Window and sequence are checked at once, the rest in order. */
  receive(message: IndexSyncMessage): void {
    if (this.closed) return;
    if (message.type === 'indexBatch') {
      if (message.seq !== this.nextSeq) {
        this.tunnel.fail(new UdnsError('protocol_violation', `indexBatch seq ${message.seq}, expected ${this.nextSeq}`));
        return;
      }
      this.nextSeq++;
      if (++this.unacknowledged > INDEX_WINDOW) {
        this.tunnel.fail(new UdnsError('protocol_violation', `more than ${INDEX_WINDOW} index batches unacknowledged`));
        return;
      }
    } else if (++this.waitingRequests > MAX_WAITING_INDEX_REQUESTS) {
      this.tunnel.fail(new UdnsError('protocol_violation', `more than ${MAX_WAITING_INDEX_REQUESTS} listShare/unlistShare waiting: wait for the answers`));
      return;
    }
    this.queue = this.queue.then(() => this.handle(message)).finally(() => {
      if (message.type !== 'indexBatch') this.waitingRequests--;
    }).catch((error: unknown) => {
      if (isUdnsError(error, 'protocol_violation')) {
        this.tunnel.fail(error);
        return;
      }
      // A bug of ours: the tunnel goes (its index stays consistent, each batch is one transaction), the edge stays.
      this.logger.error({ err: error }, 'index sync failed');
      this.tunnel.fail(new UdnsError('internal', 'the edge failed to handle an index message'));
    });
  }

  /** The agent withdrew a route (`unregisterRoute`): a listed share stops, cleanly, and leaves the index. */
  routeWithdrawn(routeId: string): void {
    this.forgetRoute(routeId);
    const listing = this.listings.get(routeId);
    if (listing === undefined) return;
    this.forgetListing(routeId, listing);
    if (listing.state !== 'refused') void this.write(listing.label, 'remove', () => this.sync.index.removeShare(listing.label));
  }

  /**
   * The edge took a route away. `replaced` (a newer tunnel of the account serves the name):
   * marked offline now, in the label's write order, so that the new tunnel's listShare, which
   * comes after, marks it online again; and this tunnel's end later changes nothing.
   * A released name left the index with its Name row (foreign-key cascade).
   */
  routeTakenAway(routeId: string, code: ErrorCode): void {
    this.forgetRoute(routeId);
    const listing = this.listings.get(routeId);
    if (listing === undefined) return;
    this.forgetListing(routeId, listing);
    if (listing.state !== 'refused' && code === 'replaced') void this.write(listing.label, 'mark offline', () => this.sync.index.setOnline(listing.label, false));
  }

  /** The tunnel is gone. Shares still listed lost their agent without a goodbye: offline, kept. */
  tunnelClosed(): void {
    if (this.closed) return;
    this.closed = true;
    for (const wake of this.sleepers) wake();
    for (const listing of this.listings.values()) {
      clearTimeout(listing.expiryTimer);
      if (listing.state !== 'refused') void this.write(listing.label, 'mark offline', () => this.sync.index.setOnline(listing.label, false));
    }
    this.listings.clear();
    this.onClosed();
  }

  /** Refuses every listed share (after `--search off` by a reload). */
  refuseAll(code: ErrorCode, message: string): void {
    for (const [routeId, listing] of this.listings) {
      if (listing.state !== 'refused') this.refuse(routeId, listing, code, message);
    }
  }

  /** Settles once every message received so far has been handled (label writes may still run: IndexSync.settled). */
  idle(): Promise<void> {
    return this.queue;
  }

  /** Shares listed on this tunnel now (routeId → label), for tests and the status API. */
  listed(): Map<string, string> {
    return new Map([...this.listings].filter(([, listing]) => listing.state === 'listed').map(([routeId, listing]) => [routeId, listing.label]));
  }

  private async handle(message: IndexSyncMessage): Promise<void> {
    if (this.closed) return;
    if (message.type === 'listShare') await this.list(message);
    else if (message.type === 'indexBatch') await this.apply(message);
    else await this.unlist(message);
  }

  private async list(message: ListShare): Promise<void> {
    const { routeId } = message;
    const label = this.tunnel.httpRouteLabel(routeId);
    if (label === undefined) {
      if (this.goneRoutes.has(routeId)) return; // the routeClosed is on its way to the agent
      throw new UdnsError('protocol_violation', 'listShare names no http route of this tunnel');
    }
    const settings = this.sync.settings;
    // From here on, batches for this route are expected, whatever the answer.
    const listing: Listing = { label, state: 'opening', expiresAt: message.expiresAt ?? null };
    this.listings.set(routeId, listing);
    if (settings.search === 'off') {
      this.refuse(routeId, listing, 'forbidden', 'search is off on this edge: the share is not listed');
      return;
    }
    if (message.expiresAt !== undefined && message.expiresAt <= Date.now()) {
      this.refuse(routeId, listing, 'bad_request', 'the share has expired: it is not listed');
      return;
    }
    if (message.summary.entries > settings.entriesPerShare) {
      this.refuse(routeId, listing, 'index_limit', `a listed share may hold at most ${settings.entriesPerShare} files on this edge (this one has ${message.summary.entries}): share a smaller folder or ask the operator`);
      return;
    }
    if (!(await this.waitForRate(LIST_SHARE_COST)) || this.listings.get(routeId) !== listing) return;
    let stored: Uint32Array;
    try {
      stored = await this.sync.onLabel(label, () => this.sync.index.openShare({ label, accountId: this.tunnel.accountId, locked: message.locked, expiresAt: message.expiresAt ?? null }));
    } catch (error) {
      if (listing.state === 'opening') this.refuseAfter(error, routeId, listing, 'list a share in the index');
      return;
    }
    // The tunnel or route went, or a reload refused it, while the share was opened: whoever did
    // queued its write (offline, remove) behind openShare already.
    if (this.closed || this.listings.get(routeId) !== listing || listing.state !== 'opening') return;
    listing.state = 'listed';
    if (listing.expiresAt !== null) {
      const delay = listing.expiresAt - Date.now();
      if (delay <= MAX_TIMER_MS) {
        listing.expiryTimer = setTimeout(() => this.refuse(routeId, listing, 'bad_request', 'the share has expired: it is not listed any more'), Math.max(0, delay));
        listing.expiryTimer.unref();
      }
    }
    const buckets = differingBuckets(stored, parseBucketDigests(message.summary.digests));
    this.logger.info({ routeId, name: label, entries: message.summary.entries, wanted: buckets.length }, 'share listed');
    this.tunnel.send({ type: 'indexWanted', requestId: message.requestId, routeId, buckets });
  }

  private async apply(batch: IndexBatch): Promise<void> {
    const { routeId } = batch;
    try {
      let listing = this.listings.get(routeId);
      if (listing === undefined) {
        if (this.goneRoutes.has(routeId)) return; // late: the route or its listing ended while it travelled
        throw new UdnsError('protocol_violation', 'indexBatch for a share that is not listed on this tunnel');
      }
      if (listing.state !== 'listed') return;
      if (listing.expiresAt !== null && listing.expiresAt <= Date.now()) {
        this.refuse(routeId, listing, 'bad_request', 'the share has expired: it is not listed any more');
        return;
      }
      if (this.sync.settings.search === 'off') {
        this.refuse(routeId, listing, 'forbidden', 'search is off on this edge: the share is not listed');
        return;
      }
      const cost = 1 + batch.upserts.length + batch.removes.length + batch.reset.length;
      if (!(await this.waitForRate(cost))) return;
      listing = this.listings.get(routeId);
      if (listing === undefined || listing.state !== 'listed') return;
      const { label } = listing;
      let outcome;
      try {
        outcome = await this.sync.onLabel(label, () => this.sync.index.applyBatch(label, batch, this.sync.limits));
      } catch (error) {
        if (this.listings.get(routeId) === listing) this.refuseAfter(error, routeId, listing, `store index batch ${batch.seq}`);
        return;
      }
      if (!outcome.ok && this.listings.get(routeId) === listing) this.refuse(routeId, listing, outcome.code, outcome.message);
    } finally {
      this.ack(routeId, batch.seq);
    }
  }

  /**
   * A share stops: it leaves the index. For one of this tunnel's own http routes that is not
   * listed here, it drops what the index may still hold of the name from an earlier connection
   * (an agent serving the folder unlisted now says so, and the old listing goes).
   */
  private async unlist(message: UnlistShare): Promise<void> {
    const { routeId } = message;
    const listing = this.listings.get(routeId);
    const label = listing?.label ?? this.tunnel.httpRouteLabel(routeId);
    if (label === undefined) {
      if (this.goneRoutes.has(routeId) || this.tunnel.holdsRoute(routeId)) return;
      throw new UdnsError('protocol_violation', 'unlistShare for a share that is not listed on this tunnel');
    }
    this.forgetRoute(routeId);
    if (listing !== undefined) {
      this.forgetListing(routeId, listing);
      this.logger.info({ routeId, name: label }, 'share unlisted');
      if (listing.state !== 'refused') void this.write(label, 'remove', () => this.sync.index.removeShare(label));
      return;
    }
    // A delete each time: held to the rate like batches.
    if (!(await this.waitForRate(1))) return;
    await this.write(label, 'remove', () => this.sync.index.removeShare(label));
  }

  private forgetListing(routeId: string, listing: Listing): void {
    clearTimeout(listing.expiryTimer);
    if (this.listings.get(routeId) === listing) this.listings.delete(routeId);
  }

  /**
   * Tells the agent its share is not listed, drops what the index held of it (a stale copy from
   * an earlier connection too), and keeps the route's batches in flight expected (acknowledged,
   * dropped).
   */
  private refuse(routeId: string, listing: Listing, code: ErrorCode, message: string): void {
    if (listing.state === 'refused') return;
    listing.state = 'refused';
    clearTimeout(listing.expiryTimer);
    this.logger.info({ routeId, name: listing.label, code, reason: message }, 'share refused by the index');
    this.tunnel.send({ type: 'indexRefused', routeId, code, message });
    void this.write(listing.label, 'remove', () => this.sync.index.removeShare(listing.label));
  }

  /**
   * Refuses a share after the store threw. The store's own refusals (a name that is not the
   * account's, a share the expiry sweep dropped) pass on as they are; anything else is a database
   * failure: logged for the operator, `internal` for the agent, and the edge goes on.
   */
  private refuseAfter(error: unknown, routeId: string, listing: Listing, what: string): void {
    if (isUdnsError(error) && error.code !== 'internal') {
      this.refuse(routeId, listing, error.code, error.message);
      return;
    }
    this.logger.error({ err: error, name: listing.label }, `index: could not ${what}`);
    this.refuse(routeId, listing, 'internal', 'the edge could not store the share\'s index; it is not listed, try again later');
  }

  private ack(routeId: string, seq: number): void {
    this.unacknowledged--;
    if (!this.closed) this.tunnel.send({ type: 'indexAck', routeId, seq });
  }

  /** Waits out the rate buckets' debt after taking `cost`; false when the tunnel closed meanwhile. */
  private async waitForRate(cost: number): Promise<boolean> {
    const waitMs = Math.max(this.tunnelBucket.take(cost), this.accountBucket.take(cost));
    if (waitMs > 0) {
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.sleepers.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, waitMs);
        this.sleepers.add(wake);
      });
    }
    return !this.closed;
  }

  /** One write to the index for `label`, in the label's order; a database error is logged, never thrown. */
  private write(label: string, what: string, work: () => Promise<unknown>): Promise<void> {
    return this.sync.onLabel(label, work).then(() => undefined, (error: unknown) => {
      this.logger.error({ err: error, name: label }, `index: could not ${what} a share`);
    });
  }

  private forgetRoute(routeId: string): void {
    this.goneRoutes.add(routeId);
    if (this.goneRoutes.size > GONE_ROUTES_KEPT) this.goneRoutes.delete(this.goneRoutes.values().next().value!);
  }
}
