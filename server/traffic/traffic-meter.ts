import { storeDatabase, type AccountStore } from '../accounts/account-store.js';
import type { Dialect } from '../accounts/database-target.js';
import type { PrismaClient } from '../accounts/generated/client.js';

/**
 * Bytes visitors move through each name, counted in memory on the hot path and added to the
 * database's `TrafficHour` rows (account, name, UTC hour) by increment every flush interval, so
 * any number of edges can share one database: each adds only its own bytes since its last flush.
 *
 * What a crash costs: the bytes counted since the last successful flush (at most one flush
 * interval, FLUSH_INTERVAL_MS by default) are never written. A failed flush loses nothing: the
 * bytes stay counted and go with the next one.
 */

/** How often counts go to the database by default. */
export const TRAFFIC_FLUSH_INTERVAL_MS = 5_000;
/** Most rows one statement writes (one JSON parameter: this bounds the statement's size). */
const ROWS_PER_STATEMENT = 1_000;
const HOUR_MS = 3_600_000;
/** Most rows trafficByHour / topNames return. */
export const MAX_TRAFFIC_ROWS = 10_000;

/** Totals for one (account, name) since this edge started: what Prometheus reads. */
export interface TrafficTotals {
  readonly account: string;
  readonly name: string;
  /** Visitor → PC. */
  readonly bytesIn: number;
  /** PC → visitor. */
  readonly bytesOut: number;
}

/** One stored hour of one name (all edges together). */
export interface TrafficHourRow {
  readonly name: string;
  /** Start of the UTC hour. */
  readonly hour: Date;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** A name's traffic over a period, for the operator's "top names". */
export interface TopNameRow {
  readonly account: string;
  readonly name: string;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/**
 * One (account, name)'s counter: a visitor connection takes it once (one map lookup) and adds
 * to it per chunk (two number additions). Exact up to 2^53 bytes.
 */
export class TrafficCounter {
  /** Totals since start. */
  bytesIn = 0;
  bytesOut = 0;
  /** What the database has of the totals (or is being written by the flush running now). */
  flushedIn = 0;
  flushedOut = 0;

  constructor(
    readonly account: string,
    readonly name: string,
  ) {}

  add(bytesIn: number, bytesOut: number): void {
    this.bytesIn += bytesIn;
    this.bytesOut += bytesOut;
  }
}

export interface TrafficMeter {
  /** Counts bytes for a name (one map lookup: on a per-chunk path prefer `counter()`). */
  add(account: string, name: string, bytesIn: number, bytesOut: number): void;
  /** The counter of one (account, name), created on first use and kept for the meter's life. */
  counter(account: string, name: string): TrafficCounter;
  /** Totals since this meter started, per (account, name): for Prometheus. */
  snapshot(): TrafficTotals[];
  /** Adds everything counted since the last flush to the database now. */
  flush(): Promise<void>;
  /**
   * An account's stored traffic per name and hour since `since` (this edge's counts flushed
   * first; other edges' counts are up to one flush interval old), oldest hour first.
   */
  trafficByHour(accountName: string, since: Date): Promise<TrafficHourRow[]>;
  /** The names that moved the most bytes (both directions) since `since`, every account: for the operator. */
  topNames(since: Date, limit: number): Promise<TopNameRow[]>;
  /** Stops the timer after a last flush. Does not close the account store. */
  close(): Promise<void>;
}

export interface TrafficMeterOptions {
  readonly flushIntervalMs?: number;
  /** A flush that failed (the bytes stay counted for the next one). */
  readonly onError?: (error: unknown) => void;
  /** For tests: the clock. */
  readonly now?: () => number;
}

/** The traffic meter on the account store's database (one connection pool: storeDatabase). */
export function openTrafficMeter(store: AccountStore, options: TrafficMeterOptions = {}): TrafficMeter {
  const { prisma, dialect } = storeDatabase(store);
  return new SqlTrafficMeter(prisma, dialect, options);
}

/** A date as each database stores it (as server/transfers/transfer-log.ts writes them). */
function storedDate(date: Date, dialect: Dialect): string {
  const iso = date.toISOString();
  return dialect === 'postgresql' ? iso : iso.replace('Z', '+00:00');
}

function upsertSql(dialect: Dialect): string {
  // ON CONFLICT … DO UPDATE by increment: two edges flushing the same row both add.
  const conflict = `ON CONFLICT ("account", "name", "hour") DO UPDATE SET "bytesIn" = "TrafficHour"."bytesIn" + excluded."bytesIn", "bytesOut" = "TrafficHour"."bytesOut" + excluded."bytesOut"`;
  if (dialect === 'postgresql') {
    return `INSERT INTO "TrafficHour" ("account", "name", "hour", "bytesIn", "bytesOut") SELECT e->>0, e->>1, (e->>2)::timestamp(3), (e->>3)::bigint, (e->>4)::bigint FROM json_array_elements($1::json) AS t(e) ${conflict}`;
  }
  // SQLite needs the WHERE to tell the upsert's ON from a join's.
  return `INSERT INTO "TrafficHour" ("account", "name", "hour", "bytesIn", "bytesOut") SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), CAST(json_extract(value, '$[3]') AS INTEGER), CAST(json_extract(value, '$[4]') AS INTEGER) FROM json_each(?) WHERE true ${conflict}`;
}

function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string') return Number(value);
  return 0;
}

function toDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(String(value));
}

function hourStart(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

class SqlTrafficMeter implements TrafficMeter {
  readonly #counters = new Map<string, TrafficCounter>();
  readonly #intervalMs: number;
  readonly #onError: (error: unknown) => void;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  /** Start of the interval the counts since the last flush belong to. */
  #intervalStart: number;
  /** Flushes one at a time. */
  #tail: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly dialect: Dialect,
    options: TrafficMeterOptions,
  ) {
    this.#intervalMs = Math.max(10, options.flushIntervalMs ?? TRAFFIC_FLUSH_INTERVAL_MS);
    this.#onError = options.onError ?? (() => undefined);
    this.#now = options.now ?? Date.now;
    this.#intervalStart = this.#now();
    this.#schedule();
  }

  add(account: string, name: string, bytesIn: number, bytesOut: number): void {
    const counter = this.counter(account, name);
    counter.bytesIn += bytesIn;
    counter.bytesOut += bytesOut;
  }

  counter(account: string, name: string): TrafficCounter {
    const key = `${account}\u0000${name}`;
    let counter = this.#counters.get(key);
    if (counter === undefined) {
      counter = new TrafficCounter(account, name);
      this.#counters.set(key, counter);
    }
    return counter;
  }

  snapshot(): TrafficTotals[] {
    const totals: TrafficTotals[] = [];
    for (const c of this.#counters.values()) totals.push({ account: c.account, name: c.name, bytesIn: c.bytesIn, bytesOut: c.bytesOut });
    return totals;
  }

  flush(): Promise<void> {
    const run = this.#tail.then(() => this.#flushOnce());
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async trafficByHour(accountName: string, since: Date): Promise<TrafficHourRow[]> {
    await this.flush().catch(() => undefined);
    const sql = this.dialect === 'postgresql'
      ? `SELECT "name", "hour", "bytesIn"::text AS "bytesIn", "bytesOut"::text AS "bytesOut" FROM "TrafficHour" WHERE "account" = $1 AND "hour" >= $2::timestamp(3) ORDER BY "hour", "name" LIMIT ${MAX_TRAFFIC_ROWS}`
      : `SELECT "name", "hour", "bytesIn", "bytesOut" FROM "TrafficHour" WHERE "account" = ? AND "hour" >= ? ORDER BY "hour", "name" LIMIT ${MAX_TRAFFIC_ROWS}`;
    const rows = await this.prisma.$queryRawUnsafe<Array<Record<string, unknown>>>(sql, accountName, storedDate(new Date(hourStart(since.getTime())), this.dialect));
    return rows.map((row) => ({ name: String(row.name), hour: toDate(row.hour), bytesIn: toNumber(row.bytesIn), bytesOut: toNumber(row.bytesOut) }));
  }

  async topNames(since: Date, limit: number): Promise<TopNameRow[]> {
    await this.flush().catch(() => undefined);
    const take = Math.max(1, Math.min(MAX_TRAFFIC_ROWS, Math.floor(limit)));
    const sql = this.dialect === 'postgresql'
      ? `SELECT "account", "name", SUM("bytesIn")::text AS "bytesIn", SUM("bytesOut")::text AS "bytesOut" FROM "TrafficHour" WHERE "hour" >= $1::timestamp(3) GROUP BY "account", "name" ORDER BY SUM("bytesIn") + SUM("bytesOut") DESC, "account", "name" LIMIT ${take}`
      : `SELECT "account", "name", SUM("bytesIn") AS "bytesIn", SUM("bytesOut") AS "bytesOut" FROM "TrafficHour" WHERE "hour" >= ? GROUP BY "account", "name" ORDER BY SUM("bytesIn") + SUM("bytesOut") DESC, "account", "name" LIMIT ${take}`;
    const rows = await this.prisma.$queryRawUnsafe<Array<Record<string, unknown>>>(sql, storedDate(new Date(hourStart(since.getTime())), this.dialect));
    return rows.map((row) => ({ account: String(row.account), name: String(row.name), bytesIn: toNumber(row.bytesIn), bytesOut: toNumber(row.bytesOut) }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.flush().catch((error: unknown) => this.#onError(error));
  }

  /** The next flush: after one interval, or just past the hour's end so no interval spans two hours. */
  #schedule(): void {
    if (this.#closed) return;
    const now = this.#now();
    const delay = Math.max(1, Math.min(this.#intervalMs, hourStart(now) + HOUR_MS - now + 1));
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.flush().catch((error: unknown) => this.#onError(error)).finally(() => this.#schedule());
    }, delay);
    this.#timer.unref();
  }

  async #flushOnce(): Promise<void> {
    const hour = storedDate(new Date(hourStart(this.#intervalStart)), this.dialect);
    this.#intervalStart = this.#now();
    const taken: Array<{ counter: TrafficCounter; bytesIn: number; bytesOut: number }> = [];
    for (const counter of this.#counters.values()) {
      const bytesIn = counter.bytesIn - counter.flushedIn;
      const bytesOut = counter.bytesOut - counter.flushedOut;
      if (bytesIn === 0 && bytesOut === 0) continue;
      taken.push({ counter, bytesIn, bytesOut });
    }
    if (taken.length === 0) return;
    // Each chunk is its own statement: a chunk that failed is counted again next time, one that
    // went in is marked flushed at once (never added twice).
    let firstError: unknown = null;
    for (let i = 0; i < taken.length; i += ROWS_PER_STATEMENT) {
      const chunk = taken.slice(i, i + ROWS_PER_STATEMENT);
      const json = JSON.stringify(chunk.map((t) => [t.counter.account, t.counter.name, hour, String(t.bytesIn), String(t.bytesOut)]));
      try {
        await this.prisma.$executeRawUnsafe(upsertSql(this.dialect), json);
        for (const t of chunk) {
          t.counter.flushedIn += t.bytesIn;
          t.counter.flushedOut += t.bytesOut;
        }
      } catch (error) {
        firstError ??= error;
      }
    }
    if (firstError !== null) throw firstError;
  }
}
