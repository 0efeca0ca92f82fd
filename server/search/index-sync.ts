import type { EdgeConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { DebtBucket } from './index-rate.js';
import { IndexSyncSession, type IndexSyncTunnel } from './index-sync-session.js';
import type { IndexLimits, SearchIndex } from './search-index.js';

/**
 * The settings the index sync reads on every decision. One object for the whole edge, changed
 * in place by a reload (like the visitor limits), so live tunnels follow it.
 */
export interface IndexSyncSettings {
  search: 'public' | 'members' | 'off';
  entriesPerShare: number;
  entriesPerAccount: number;
  /** Index updates per second (entries + reset buckets, see IndexSyncSession) per tunnel and per account. */
  ratePerTunnel: number;
  ratePerAccount: number;
}

/** The sync's settings from the edge's config (at start, and again after each reload). */
export function indexSyncSettings(config: EdgeConfig): IndexSyncSettings {
  return {
    search: config.search,
    entriesPerShare: config.indexMaxEntriesPerShare,
    entriesPerAccount: config.indexMaxEntriesPerAccount,
    ratePerTunnel: config.indexRatePerTunnel,
    ratePerAccount: config.indexRatePerAccount,
  };
}

/** Seconds of the rate a tunnel or account may spend at once: a first listing of 25,000 files goes unthrottled. */
export const INDEX_BURST_SECONDS = 5;
/** How often expired shares are dropped. Searches leave them out already (SearchQuery.nowMs): this only frees the rows. */
export const EXPIRY_SWEEP_INTERVAL_MS = 60_000;
/** How long closing the edge waits for index writes in flight (a tunnel's last "offline"). */
const CLOSE_WAIT_MS = 5_000;

/**
 * The edge's side of the index sync, for every tunnel: the store, the live settings, one rate
 * bucket per account, and the order of writes per share label. Each tunnel gets its own
 * IndexSyncSession (see there for the protocol rules).
 *
 * Writes for one label run one after the other, whichever tunnel asks: when a name moves to a
 * newer tunnel of the same account, the old tunnel's last write lands before the new tunnel's
 * `openShare`, so the share ends up online, never stale-offline.
 */
export class IndexSync {
  private readonly accountBuckets = new Map<number, { bucket: DebtBucket; sessions: number }>();
  private readonly sessions = new Set<IndexSyncSession>();
  private readonly labelTails = new Map<string, Promise<unknown>>();
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;

  constructor(
    readonly index: SearchIndex,
    readonly settings: IndexSyncSettings,
    readonly logger: Logger,
    sweepIntervalMs: number = EXPIRY_SWEEP_INTERVAL_MS,
  ) {
    this.sweepTimer = setInterval(() => {
      this.forgetIdleAccounts();
      void this.sweepExpired();
    }, sweepIntervalMs);
    this.sweepTimer.unref();
  }

  /**
   * At start: every share is offline until its agent lists it again. Right for one edge, which
   * holds no tunnel yet. Several edges on one database would need to know which edge holds
   * which share (an edge id and a heartbeat column, with a share offline when its edge's
   * heartbeat is stale) instead of one edge's start marking the others' shares offline.
   * A database error is logged, not fatal: a search showing stale "online" marks is better than
   * an edge that does not start.
   */
  async start(): Promise<void> {
    try {
      await this.index.markAllOffline();
    } catch (error) {
      this.logger.error({ err: error }, 'could not mark listed shares offline at start');
    }
  }

  get limits(): IndexLimits {
    return { entriesPerShare: this.settings.entriesPerShare, entriesPerAccount: this.settings.entriesPerAccount };
  }

  /** A sync session for one tunnel; ends when the session's `tunnelClosed` is called. */
  openSession(tunnel: IndexSyncTunnel): IndexSyncSession {
    let account = this.accountBuckets.get(tunnel.accountId);
    if (account === undefined) {
      account = { bucket: new DebtBucket(() => this.settings.ratePerAccount, INDEX_BURST_SECONDS), sessions: 0 };
      this.accountBuckets.set(tunnel.accountId, account);
    }
    account.sessions++;
    const tunnelBucket = new DebtBucket(() => this.settings.ratePerTunnel, INDEX_BURST_SECONDS);
    const session = new IndexSyncSession(this, tunnel, tunnelBucket, account.bucket, () => {
      this.sessions.delete(session);
      // The account's bucket outlives its tunnels until it is full again (see forgetIdleAccounts):
      // reconnecting must not wipe a debt.
      account.sessions--;
    });
    this.sessions.add(session);
    return session;
  }

  /** Runs `work` after every earlier write for `label` has settled; its own outcome is returned. */
  onLabel<T>(label: string, work: () => Promise<T>): Promise<T> {
    const previous = this.labelTails.get(label) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.catch(() => undefined);
    this.labelTails.set(label, tail);
    void tail.then(() => {
      if (this.labelTails.get(label) === tail) this.labelTails.delete(label);
    });
    return result;
  }

  /** After a reload: with `--search off`, every listed share is refused and dropped from the index. */
  settingsChanged(): void {
    if (this.settings.search !== 'off') return;
    for (const session of this.sessions) session.refuseAll('forbidden', 'search is off on this edge: the share is not listed');
  }

  /** Forgets the rate buckets of accounts with no tunnel left whose debt is paid off. */
  forgetIdleAccounts(): void {
    for (const [accountId, account] of this.accountBuckets) {
      if (account.sessions === 0 && account.bucket.isFull()) this.accountBuckets.delete(accountId);
    }
  }

  /** Drops expired shares now; returns how many (0 when the database failed, which is logged). */
  async sweepExpired(nowMs: number = Date.now()): Promise<number> {
    if (this.closed) return 0;
    try {
      const removed = await this.index.removeExpired(nowMs);
      if (removed > 0) this.logger.info({ removed }, 'expired shares removed from the index');
      return removed;
    } catch (error) {
      this.logger.warn({ err: error }, 'could not remove expired shares from the index');
      return 0;
    }
  }

  /** Settles once every write queued so far, for any label, has. */
  async settled(): Promise<void> {
    while (this.labelTails.size > 0) await Promise.allSettled([...this.labelTails.values()]);
  }

  /** Stops the sweep and waits (a little) for writes in flight, e.g. the tunnels' last "offline" marks. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweepTimer);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, CLOSE_WAIT_MS); });
    await Promise.race([Promise.allSettled([...this.labelTails.values()]), timeout]);
    clearTimeout(timer);
  }
}
