import { UdnsError } from '../../protocol/index.js';
import type { Logger } from '../logger.js';
import type { TrafficCounter, TrafficMeter } from '../traffic/traffic-meter.js';
import { effectiveLimits, NO_OVERRIDES, type AccountLimitsStore, type EffectiveLimits, type QuotaDefaults, type StoredLimits } from './account-limits.js';
import { formatByteRate } from './byte-rate.js';
import { ConnectionShaper } from './connection-shaper.js';
import { TokenBucket } from './token-bucket.js';

/** How long an account's limits read from the database are used before they are read again. */
export const LIMITS_REFRESH_MS = 30_000;
/** What a visitor refused for too many concurrent visitors is told to wait. */
export const VISITOR_LIMIT_RETRY_AFTER_S = 5;
const SWEEP_INTERVAL_MS = 60_000;
/** An idle account's state (limits, full bucket) is forgotten after this long. */
const IDLE_ACCOUNT_MS = 10 * 60_000;

/** What one admitted visitor connection carries through the bridge. */
export interface VisitorQuota {
  /** Where its bytes are counted (server/traffic/), null: not counted. */
  readonly counter: TrafficCounter | null;
  /** Its bandwidth limits, null: none apply. */
  readonly shaper: ConnectionShaper | null;
  /** The connection ended (idempotent). */
  release(): void;
}

export interface BucketStats {
  readonly taken: number;
  readonly pauses: number;
}

export interface QuotaStats {
  readonly visitors: number;
  readonly routeVisitors: number;
  readonly accountBucket: BucketStats | null;
  readonly routeBucket: BucketStats | null;
}

/** Whether a visitor connection may go on, and if not, which limit said no. */
export type Admission =
  | { readonly ok: true; readonly quota: VisitorQuota }
  | {
    readonly ok: false;
    readonly scope: 'account' | 'route';
    /** The operator's setting that said no, for log lines. */
    readonly setting: 'maxVisitorsPerAccount' | 'maxVisitorsPerRoute';
    readonly limit: number;
    readonly message: string;
  };

interface AccountState {
  /** Known once a visitor came (for stats by name). */
  name: string | null;
  stored: StoredLimits;
  loadedAt: number;
  loading: Promise<void> | null;
  visitors: number;
  bucket: TokenBucket | null;
  /** Name claims of this account, one at a time (count and claim must not interleave). */
  claims: Promise<unknown>;
}

interface RouteState {
  readonly name: string;
  visitors: number;
  bucket: TokenBucket | null;
}

/**
 * The operator's limits on this edge (server/quotas/): names per account, bandwidth per account
 * and per route (token buckets; a route's inside its account's), concurrent visitors per
 * account and per route. Limits come from the config (defaults) and the database (per-account
 * overrides, read again every LIMITS_REFRESH_MS); the counts of concurrent visitors and the
 * buckets are this edge's (several edges each apply the limits to what passes through them).
 * Also hands each admitted connection its TrafficMeter counter.
 */
export class VisitorQuotas {
  readonly #accounts = new Map<number, AccountState>();
  readonly #routes = new Map<string, RouteState>();
  readonly #sweep: NodeJS.Timeout;
  /** Visitor connections refused over a limit since start (for metrics). */
  refusedVisitors = 0;
  /** Name claims refused over the names limit since start. */
  refusedNames = 0;

  constructor(private readonly deps: {
    readonly limits: AccountLimitsStore | null;
    readonly meter: TrafficMeter | null;
    /** Read on every decision: a config reload applies at once. */
    readonly defaults: () => QuotaDefaults;
    readonly logger: Logger;
    readonly refreshMs?: number;
    readonly now?: () => number;
  }) {
    this.#sweep = setInterval(() => this.#forgetIdle(), SWEEP_INTERVAL_MS);
    this.#sweep.unref();
  }

  get meter(): TrafficMeter | null {
    return this.deps.meter;
  }

  /** The limits that apply to an account now (its overrides as last read, over the defaults). */
  limitsOf(accountId: number): EffectiveLimits {
    return effectiveLimits(this.#accounts.get(accountId)?.stored ?? NO_OVERRIDES, this.deps.defaults());
  }

  /** Reads an account's overrides now (a route is being registered): its first visitors see them. */
  async prepare(accountId: number): Promise<void> {
    const state = this.#account(accountId);
    await this.#load(accountId, state);
  }

  /**
   * Admits a visitor connection to `routeId` (serving `name` of `account`) or says which
   * concurrent-visitors limit it is over. Synchronous: limits as last read.
   */
  admit(account: { readonly id: number; readonly name: string }, name: string, routeId: string): Admission {
    const state = this.#account(account.id);
    state.name = account.name;
    const now = this.#now();
    if (state.loading === null && now - state.loadedAt > (this.deps.refreshMs ?? LIMITS_REFRESH_MS)) void this.#load(account.id, state);
    const limits = effectiveLimits(state.stored, this.deps.defaults());
    let route = this.#routes.get(routeId);
    if (limits.maxVisitors !== null && state.visitors >= limits.maxVisitors) return this.#refuse('account', limits.maxVisitors, account.name, name);
    if (limits.routeMaxVisitors !== null && (route?.visitors ?? 0) >= limits.routeMaxVisitors) return this.#refuse('route', limits.routeMaxVisitors, account.name, name);
    if (route === undefined) {
      route = { name, visitors: 0, bucket: null };
      this.#routes.set(routeId, route);
    }
    state.bucket = fitBucket(state.bucket, limits.bandwidth);
    route.bucket = fitBucket(route.bucket, limits.routeBandwidth);
    state.visitors++;
    route.visitors++;
    const buckets = [route.bucket, state.bucket].filter((b): b is TokenBucket => b !== null);
    const shaper = buckets.length === 0 ? null : new ConnectionShaper(buckets);
    const counter = this.deps.meter?.counter(account.name, name) ?? null;
    let released = false;
    const owner = route;
    return {
      ok: true,
      quota: {
        counter,
        shaper,
        release: () => {
          if (released) return;
          released = true;
          shaper?.close();
          state.visitors--;
          owner.visitors--;
          if (owner.visitors === 0 && (owner.bucket === null || owner.bucket.isFull()) && this.#routes.get(routeId) === owner) this.#routes.delete(routeId);
        },
      },
    };
  }

  /**
   * Runs `claim` for a name unless the account is at its names limit (a name it owns already is
   * always fine). Claims of one account run one at a time on this edge.
   * @throws UdnsError `name_limit`
   */
  claimName<T>(accountId: number, label: string, claim: () => Promise<T>): Promise<T> {
    const state = this.#account(accountId);
    const run = state.claims.then(async () => {
      const limits = this.deps.limits;
      if (limits !== null) {
        await this.#load(accountId, state);
        const max = effectiveLimits(state.stored, this.deps.defaults()).maxNames;
        if (max !== null) {
          const { count, owned } = await limits.names(accountId, label);
          if (!owned && count >= max) {
            this.refusedNames++;
            throw new UdnsError('name_limit', `this account holds ${count} names, the most the operator allows (${max}): release one (udns name release <name>) or ask the operator to raise the limit`);
          }
        }
      }
      return claim();
    });
    state.claims = run.catch(() => undefined);
    return run;
  }

  /**
   * This edge's state of an account (and of its route serving `name`): visitor connections open
   * now, and the buckets' counters (bytes charged, charges that paused a reader). For tests and metrics.
   */
  stats(accountName: string, name?: string): QuotaStats {
    const account = [...this.#accounts.values()].find((state) => state.name === accountName);
    const route = name === undefined ? undefined : [...this.#routes.values()].find((state) => state.name === name);
    const counters = (bucket: TokenBucket | null | undefined): BucketStats | null => (bucket ? { taken: bucket.taken, pauses: bucket.pauses } : null);
    return {
      visitors: account?.visitors ?? 0,
      routeVisitors: route?.visitors ?? 0,
      accountBucket: counters(account?.bucket),
      routeBucket: counters(route?.bucket),
    };
  }

  close(): void {
    clearInterval(this.#sweep);
  }

  #refuse(scope: 'account' | 'route', limit: number, account: string, name: string): Admission {
    this.refusedVisitors++;
    const message = scope === 'account'
      ? `The account "${account}" has ${limit} visitor connections open, the most its operator allows. Try again in a few seconds.`
      : `"${name}" has ${limit} visitor connections open, the most its operator allows for one route. Try again in a few seconds.`;
    return { ok: false, scope, setting: scope === 'account' ? 'maxVisitorsPerAccount' : 'maxVisitorsPerRoute', limit, message };
  }

  #account(accountId: number): AccountState {
    let state = this.#accounts.get(accountId);
    if (state === undefined) {
      state = { name: null, stored: NO_OVERRIDES, loadedAt: -Infinity, loading: null, visitors: 0, bucket: null, claims: Promise.resolve() };
      this.#accounts.set(accountId, state);
    }
    return state;
  }

  #load(accountId: number, state: AccountState): Promise<void> {
    const limits = this.deps.limits;
    if (limits === null) return Promise.resolve();
    if (state.loading !== null) return state.loading;
    state.loading = limits.get(accountId).then((stored) => {
      state.stored = stored;
      state.loadedAt = this.#now();
    }, (error: unknown) => {
      // The limits as last read stay (the defaults at first); the next admit tries again.
      state.loadedAt = this.#now();
      this.deps.logger.warn({ err: error, accountId }, 'account limits could not be read; the ones read before apply');
    }).finally(() => {
      state.loading = null;
    });
    return state.loading;
  }

  #forgetIdle(): void {
    const now = this.#now();
    for (const [id, state] of this.#accounts) {
      if (state.visitors === 0 && state.loading === null && now - state.loadedAt > IDLE_ACCOUNT_MS && (state.bucket === null || state.bucket.isFull())) this.#accounts.delete(id);
    }
    for (const [id, route] of this.#routes) {
      if (route.visitors === 0 && (route.bucket === null || route.bucket.isFull())) this.#routes.delete(id);
    }
  }

  #now(): number {
    return (this.deps.now ?? Date.now)();
  }
}

/** The bucket for a rate limit: kept (at the new rate) while one applies, dropped when none does. */
function fitBucket(bucket: TokenBucket | null, rate: number | null): TokenBucket | null {
  if (rate === null) return null;
  if (bucket === null) return new TokenBucket(rate);
  if (bucket.rate !== rate) bucket.setRate(rate);
  return bucket;
}

/** A limit for log lines and `udns account limits`. */
export function describeLimit(value: number | null, kind: 'count' | 'rate'): string {
  if (value === null) return 'unlimited';
  return kind === 'rate' ? formatByteRate(value) : String(value);
}
