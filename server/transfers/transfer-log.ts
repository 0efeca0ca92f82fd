import { UdnsError } from '../../protocol/errors.js';
import { storeDatabase, type AccountStore } from '../accounts/account-store.js';
import type { Dialect } from '../accounts/database-target.js';
import type { PrismaClient } from '../accounts/generated/client.js';
import type { LedgerAppend, LedgerLog } from '../ledger/ledger-log.js';
import { ledgerTx } from '../ledger/ledger-tx.js';
import { chainHash, GENESIS_HASH, verifyLinks, type ChainedFields, type ChainVerdict } from './transfer-chain.js';

/** How a transfer went: through the edge, or between the two PCs, or an http route's connection. */
export type TransferVia = 'direct' | 'push' | 'relay' | 'http';
export type TransferOutcome = 'complete' | 'partial' | 'failed';

/** One transfer to record. Sizes and counts are byte counts (exact up to 2^53). */
export interface TransferInput {
  /** Unique per transfer: a second append of the same id is ignored (idempotency). */
  readonly reportId: string;
  readonly share: string;
  readonly path: string;
  readonly sha256?: string | null;
  readonly size?: number | null;
  readonly offset?: number;
  readonly ownerId: number;
  readonly receiverId?: number | null;
  /** Only for anonymous receivers: a network prefix, never a full address. */
  readonly receiverNetwork?: string | null;
  readonly via: TransferVia;
  readonly startedAt: Date;
  readonly endedAt: Date;
  readonly bytes: number;
  readonly bytesUp?: number;
  readonly outcome: TransferOutcome;
  readonly reportedBy: 'edge' | 'agent';
  readonly ticketId?: string | null;
}

/** A stored record as the API shows it, with the account names resolved. */
export interface TransferRecordInfo {
  readonly id: number;
  readonly reportId: string;
  readonly share: string;
  readonly path: string;
  readonly sha256: string | null;
  readonly size: number | null;
  readonly offset: number;
  readonly owner: string | null;
  readonly ownerId: number;
  readonly receiver: string | null;
  readonly receiverId: number | null;
  readonly receiverNetwork: string | null;
  readonly via: TransferVia;
  readonly startedAt: Date;
  readonly endedAt: Date;
  readonly bytes: number;
  readonly bytesUp: number;
  readonly outcome: TransferOutcome;
  readonly reportedBy: 'edge' | 'agent';
  readonly recordedAt: Date;
  readonly prevHash: string;
  readonly hash: string;
}

/** Which of a member's records: those they sent (owner), received, or (admins) everyone's. */
export interface TransferQuery {
  readonly role: 'sent' | 'received' | 'all';
  /** Required unless role is `all`. */
  readonly accountId?: number;
  readonly limit: number;
  /** Only records with a smaller id (the previous page's last id). */
  readonly before?: number;
  /** Files (direct, push, relay), http connections, or both (default). */
  readonly kind?: 'files' | 'http' | 'all';
}

/** Most records one list call returns. */
export const MAX_TRANSFER_PAGE = 500;
/** The buffered writer appends when this many records wait, or after FLUSH_INTERVAL_MS. */
export const FLUSH_RECORDS = 200;
export const FLUSH_INTERVAL_MS = 1_000;
/** Records kept waiting while the database fails; beyond it the oldest are dropped (and logged). */
export const MAX_PENDING_RECORDS = 50_000;

/** Any key, the same in every edge process: serializes appends to the chain on PostgreSQL. */
const CHAIN_LOCK_KEY = 0x75646e73_7472; // "udnstr"
const APPEND_ATTEMPTS = 5;
const VERIFY_PAGE = 1_000;
/** The columns an append writes, in the order of its rows' JSON arrays (the migrations' names). */
const INSERT_COLUMNS = [
  'reportId', 'share', 'path', 'sha256', 'size', 'offset', 'ownerId', 'receiverId', 'receiverNetwork', 'via',
  'startedAt', 'endedAt', 'bytes', 'bytesUp', 'outcome', 'reportedBy', 'ticketId', 'recordedAt', 'prevHash', 'hash',
] as const;
type Column = (typeof INSERT_COLUMNS)[number];
const BIGINT_COLUMNS = new Set<Column>(['size', 'offset', 'bytes', 'bytesUp']);
const INT_COLUMNS = new Set<Column>(['ownerId', 'receiverId']);
const DATE_COLUMNS = new Set<Column>(['startedAt', 'endedAt', 'recordedAt']);
/** Rows per INSERT (one JSON parameter each: no bound-parameter limit applies, this bounds the statement's size). */
const ROWS_PER_STATEMENT = 1_000;

/**
 * The rows go as one JSON parameter (an array of arrays in INSERT_COLUMNS order) that the
 * database unpacks: Prisma's raw queries still pass every bound parameter through its query
 * compiler (WASM), which cost about as much CPU as the rest of the append at 20 parameters a
 * row. Bigints travel as decimal strings (exact), dates as the text each database keeps.
 */
function insertSql(dialect: Dialect): string {
  const columns = INSERT_COLUMNS.map((column) => `"${column}"`).join(', ');
  if (dialect === 'postgresql') {
    const values = INSERT_COLUMNS.map((column, i) =>
      BIGINT_COLUMNS.has(column) ? `(e->>${i})::bigint` : INT_COLUMNS.has(column) ? `(e->>${i})::integer` : DATE_COLUMNS.has(column) ? `(e->>${i})::timestamp(3)` : `e->>${i}`);
    return `INSERT INTO "TransferRecord" (${columns}) SELECT ${values.join(', ')} FROM json_array_elements($1::json) WITH ORDINALITY AS t(e, n) ORDER BY n`;
  }
  const values = INSERT_COLUMNS.map((column, i) =>
    BIGINT_COLUMNS.has(column) ? `CAST(json_extract(value, '$[${i}]') AS INTEGER)` : `json_extract(value, '$[${i}]')`);
  return `INSERT INTO "TransferRecord" (${columns}) SELECT ${values.join(', ')} FROM json_each(?) ORDER BY key`;
}

/** A date as each database stores it: PostgreSQL's timestamp(3) reads UTC ISO text (its zone ignored); SQLite keeps the adapter's ISO text with +00:00 (what Prisma's own writes store). */
function storedDate(date: Date, dialect: Dialect): string {
  const iso = date.toISOString();
  return dialect === 'postgresql' ? iso : iso.replace('Z', '+00:00');
}

function rowJson(row: ChainedFields & { prevHash: string; hash: string }, dialect: Dialect): unknown[] {
  return [
    row.reportId, row.share, row.path, row.sha256, row.size === null ? null : row.size.toString(), row.offset.toString(), row.ownerId, row.receiverId,
    row.receiverNetwork, row.via, storedDate(row.startedAt, dialect), storedDate(row.endedAt, dialect), row.bytes.toString(), row.bytesUp.toString(),
    row.outcome, row.reportedBy, row.ticketId, storedDate(row.recordedAt, dialect), row.prevHash, row.hash,
  ];
}

/** The append-only transfer log (see transfer-chain.ts). */
export interface TransferLog {
  /**
   * Appends in one transaction, serialized with every other writer of the database; records
   * whose reportId is already stored (or repeated in `records`) are skipped.
   */
  append(records: readonly TransferInput[]): Promise<{ appended: number; duplicates: number }>;
  /** Queues a record for the next batch (see FLUSH_RECORDS): for busy paths that must not wait on the database. */
  record(input: TransferInput): void;
  /** Appends everything queued so far. */
  flush(): Promise<void>;
  list(query: TransferQuery): Promise<TransferRecordInfo[]>;
  /** Recomputes the whole chain; names the first record that does not verify. */
  verifyChain(): Promise<ChainVerdict>;
  /** Flushes the queue, then stops the timer. Does not close the account store. */
  close(): Promise<void>;
  /**
   * From now on, every appended record with outcome `complete` and via ≠ http also becomes a
   * `transfer` ledger entry, in the same transaction (issue 11).
   */
  attachLedger(ledger: LedgerLog): void;
}

/** The transfer log in the account store's database (one connection pool: storeDatabase). */
export function openTransferLog(store: AccountStore, options: { onError?: (error: unknown, dropped: number) => void; ledger?: LedgerLog } = {}): TransferLog {
  const { prisma, dialect } = storeDatabase(store);
  const log = new SqlTransferLog(prisma, dialect, options.onError ?? (() => undefined));
  if (options.ledger) log.attachLedger(options.ledger);
  return log;
}

type Row = ChainedFields & { id: number; prevHash: string; hash: string };
type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

/** Whether a record is one the ledger keeps: a file that arrived whole between members' PCs or through the relay. */
function isLedgerTransfer(input: { readonly outcome: string; readonly via: string }): boolean {
  return input.outcome === 'complete' && input.via !== 'http';
}

class SqlTransferLog implements TransferLog {
  #pending: TransferInput[] = [];
  #timer: NodeJS.Timeout | null = null;
  /** In-process appends one at a time: a batch waits for the one before it. */
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;
  #ledger: LedgerLog | null = null;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly dialect: Dialect,
    private readonly onError: (error: unknown, dropped: number) => void,
  ) {}

  append(records: readonly TransferInput[]): Promise<{ appended: number; duplicates: number }> {
    const run = this.#tail.then(() => this.#appendWithRetry(records));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  record(input: TransferInput): void {
    if (this.#closed) throw new UdnsError('internal', 'transfer log closed');
    this.#pending.push(input);
    if (this.#pending.length > MAX_PENDING_RECORDS) {
      const dropped = this.#pending.splice(0, this.#pending.length - MAX_PENDING_RECORDS).length;
      this.onError(new UdnsError('internal', `transfer log backlog full: ${dropped} records dropped`), dropped);
    }
    if (this.#pending.length >= FLUSH_RECORDS) void this.flush();
    else if (this.#timer === null) {
      this.#timer = setTimeout(() => void this.flush(), FLUSH_INTERVAL_MS);
      this.#timer.unref();
    }
  }

  async flush(): Promise<void> {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const batch = this.#pending.splice(0);
    if (batch.length === 0) {
      await this.#tail;
      return;
    }
    try {
      await this.append(batch);
    } catch (error) {
      // Kept for the next flush: the database may be back by then (idempotent by reportId).
      this.#pending.unshift(...batch);
      this.onError(error, 0);
      if (!this.#closed && this.#timer === null) {
        this.#timer = setTimeout(() => void this.flush(), FLUSH_INTERVAL_MS);
        this.#timer.unref();
      }
    }
  }

  async list(query: TransferQuery): Promise<TransferRecordInfo[]> {
    const limit = Math.max(1, Math.min(MAX_TRANSFER_PAGE, Math.floor(query.limit)));
    if (query.role !== 'all' && query.accountId === undefined) throw new UdnsError('internal', 'list: accountId is required for sent/received');
    const where = {
      ...(query.role === 'sent' ? { ownerId: query.accountId } : {}),
      ...(query.role === 'received' ? { receiverId: query.accountId } : {}),
      ...(query.before !== undefined ? { id: { lt: query.before } } : {}),
      ...(query.kind === 'files' ? { via: { not: 'http' } } : query.kind === 'http' ? { via: 'http' } : {}),
    };
    const rows = await this.prisma.transferRecord.findMany({ where, orderBy: { id: 'desc' }, take: limit });
    const ids = new Set<number>();
    for (const row of rows) {
      ids.add(row.ownerId);
      if (row.receiverId !== null) ids.add(row.receiverId);
    }
    const accounts = await this.prisma.account.findMany({ where: { id: { in: [...ids] } }, select: { id: true, name: true } });
    const names = new Map(accounts.map((a) => [a.id, a.name]));
    return rows.map((row) => ({
      id: row.id,
      reportId: row.reportId,
      share: row.share,
      path: row.path,
      sha256: row.sha256,
      size: row.size === null ? null : Number(row.size),
      offset: Number(row.offset),
      owner: names.get(row.ownerId) ?? null,
      ownerId: row.ownerId,
      receiver: row.receiverId === null ? null : names.get(row.receiverId) ?? null,
      receiverId: row.receiverId,
      receiverNetwork: row.receiverNetwork,
      via: row.via as TransferVia,
      startedAt: row.startedAt,
      endedAt: row.endedAt,
      bytes: Number(row.bytes),
      bytesUp: Number(row.bytesUp),
      outcome: row.outcome as TransferOutcome,
      reportedBy: row.reportedBy as 'edge' | 'agent',
      recordedAt: row.recordedAt,
      prevHash: row.prevHash,
      hash: row.hash,
    }));
  }

  async verifyChain(): Promise<ChainVerdict> {
    await this.flush();
    let state = { head: GENESIS_HASH, records: 0 };
    let after = 0;
    for (;;) {
      const rows: Row[] = await this.prisma.transferRecord.findMany({ where: { id: { gt: after } }, orderBy: { id: 'asc' }, take: VERIFY_PAGE });
      const verdict = verifyLinks(rows, state);
      if (!verdict.ok || rows.length < VERIFY_PAGE) return verdict;
      state = { head: verdict.head, records: verdict.records };
      after = rows[rows.length - 1]!.id;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  attachLedger(ledger: LedgerLog): void {
    this.#ledger = ledger;
  }

  async #appendWithRetry(records: readonly TransferInput[]): Promise<{ appended: number; duplicates: number }> {
    const ledger = this.#ledger;
    if (ledger !== null && records.some(isLedgerTransfer)) {
      // Under the ledger lock too (taken before the chain's, in every writer: no deadlock);
      // ledgerTx retries the same races as below.
      return ledgerTx({ prisma: this.prisma, dialect: this.dialect }, (tx) => this.#appendIn(tx, records, ledger));
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.prisma.$transaction((tx) => this.#appendIn(tx, records), { timeout: 30_000, maxWait: 30_000 });
      } catch (error) {
        // Another process appended between our read of the head and our insert (SQLite without
        // a lock across processes; the unique prevHash refuses the fork), or the file was busy:
        // read the new head and try again.
        if (attempt >= APPEND_ATTEMPTS || !isRetryable(error)) throw error;
      }
    }
  }

  async #appendIn(tx: Tx, records: readonly TransferInput[], ledger: LedgerLog | null = null): Promise<{ appended: number; duplicates: number }> {
    if (this.dialect === 'postgresql') {
      // Held until commit: appends from every edge process line up here, so each reads the
      // head the previous one wrote.
      await tx.$queryRawUnsafe(`SELECT pg_advisory_xact_lock(${CHAIN_LOCK_KEY})::text`);
    } else {
      // SQLite's transactions start deferred: reading the head first and writing after would
      // let two processes read the same head, and the later writer would then fail at once
      // (its snapshot is stale) instead of waiting. A write that touches no row takes the
      // database's write lock first (waiting up to the busy timeout), and the read after it
      // sees the newest head.
      await tx.$executeRawUnsafe(`UPDATE "TransferRecord" SET "id" = "id" WHERE 0`);
    }
    // Plain SQL under the lock, like the ledger (server/ledger/ledger-log.ts): Prisma's model
    // queries cost the edge about four times the CPU, and the edge appends a record per http
    // visitor connection.
    const wanted = [...new Set(records.map((r) => r.reportId))];
    const existing = new Set<string>();
    const lookUp = this.dialect === 'postgresql'
      ? `SELECT "reportId" FROM "TransferRecord" WHERE "reportId" IN (SELECT json_array_elements_text($1::json))`
      : `SELECT "reportId" FROM "TransferRecord" WHERE "reportId" IN (SELECT value FROM json_each(?))`;
    const found = await tx.$queryRawUnsafe<Array<{ reportId: string }>>(lookUp, JSON.stringify(wanted));
    for (const row of found) existing.add(row.reportId);
    const [last] = await tx.$queryRaw<Array<{ hash: string }>>`SELECT "hash" FROM "TransferRecord" ORDER BY "id" DESC LIMIT 1`;
    let head = last?.hash ?? GENESIS_HASH;
    const recordedAt = new Date();
    const rows: Array<ChainedFields & { prevHash: string; hash: string }> = [];
    for (const input of records) {
      if (existing.has(input.reportId)) continue;
      existing.add(input.reportId);
      const fields = toFields(input, recordedAt);
      const hash = chainHash(head, fields);
      rows.push({ ...fields, prevHash: head, hash });
      head = hash;
    }
    // Multi-row INSERTs in chain order: both databases number the rows in the order of the
    // SELECT (ORDER BY the JSON array's index), so ids follow the chain (verifyChain checks that).
    for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
      const json = JSON.stringify(rows.slice(i, i + ROWS_PER_STATEMENT).map((row) => rowJson(row, this.dialect)));
      await tx.$executeRawUnsafe(insertSql(this.dialect), json);
    }
    if (ledger !== null) {
      const entries = rows.filter(isLedgerTransfer).map((row): LedgerAppend => ({
        kind: 'transfer',
        body: {
          reportId: row.reportId, share: row.share, path: row.path, sha256: row.sha256,
          size: row.size === null ? null : Number(row.size), owner: row.ownerId, receiver: row.receiverId,
          via: row.via, bytes: Number(row.bytes), outcome: row.outcome, recordHash: row.hash,
        },
        parties: row.receiverId === null ? [row.ownerId] : [row.ownerId, row.receiverId],
      }));
      if (entries.length > 0) await ledger.appendIn(tx, entries);
    }
    const appended = rows.length;
    return { appended, duplicates: records.length - appended };
  }
}

function toFields(input: TransferInput, recordedAt: Date): ChainedFields {
  return {
    reportId: input.reportId,
    share: input.share,
    path: input.path,
    sha256: input.sha256 ?? null,
    size: input.size === null || input.size === undefined ? null : BigInt(input.size),
    offset: BigInt(input.offset ?? 0),
    ownerId: input.ownerId,
    receiverId: input.receiverId ?? null,
    receiverNetwork: input.receiverId === null || input.receiverId === undefined ? input.receiverNetwork ?? null : null,
    via: input.via,
    // Both databases keep milliseconds: the hash must be of what is stored.
    startedAt: new Date(Math.floor(input.startedAt.getTime())),
    endedAt: new Date(Math.floor(input.endedAt.getTime())),
    bytes: BigInt(input.bytes),
    bytesUp: BigInt(input.bytesUp ?? 0),
    outcome: input.outcome,
    reportedBy: input.reportedBy,
    ticketId: input.ticketId ?? null,
    recordedAt,
  };
}

function isRetryable(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; meta?: { target?: unknown } } | null;
  if (e?.code === 'P2002') return JSON.stringify(e.meta?.target ?? '').includes('prevHash') || String(e.message).includes('prevHash');
  // The same race from the plain-SQL INSERT: Prisma reports a raw query's unique violation as
  // P2010 with the adapter's error in meta (SQLite: "UNIQUE constraint failed: TransferRecord.prevHash";
  // PostgreSQL: 23505 on "TransferRecord_prevHash_key").
  if (e?.code === 'P2010') {
    const where = JSON.stringify(e.meta ?? '') + String(e.message);
    return /UniqueConstraintViolation|23505|SQLITE_CONSTRAINT/.test(where) && where.includes('prevHash');
  }
  if (e?.code === 'P2034') return true; // write conflict / deadlock
  return /SQLITE_BUSY|database is locked/i.test(String(e?.message));
}
