import { z } from 'zod';
import { UdnsError } from '../../protocol/errors.js';
import { INDEX_BUCKETS, IndexEntry, IndexPath, MAX_INDEX_BATCH_ENTRIES, bucketOf, entryDigest } from '../../protocol/index-sync.js';
import { storeDatabase, type AccountStore } from '../accounts/account-store.js';
import type { Dialect } from '../accounts/database-target.js';
import { MEDIA_KINDS, type ApplyOutcome, type IndexLimits, type IndexedFileLookup, type ListedShare, type SearchHit, type SearchIndex, type SearchQuery, type SearchResult, type SellerTrustView } from './search-index.js';
import { indexTerms, mediaKind, queryTerms, searchKey, splitSharePath } from './search-text.js';

/*
 * SearchIndex on the member database (SQLite or PostgreSQL), in raw SQL that both dialects
 * read the same way except for the full-text match (FTS5 MATCH vs tsvector @@ tsquery) and
 * placeholders. Numbers that reach the SQL text are validated integers; every string is a
 * parameter.
 *
 * Ranking, highest first (score = 2·tier + online + recency):
 *   tier 3: the name is the query (with or without its extension)
 *   tier 2: every query word starts a word of the name
 *   tier 1: every query word occurs in the name
 *   tier 0: some word occurs only in the folder
 *   online: 1 when the owner's agent is connected
 *   recency: mtime / now, in [0, 1) (a future mtime counts as now)
 * so a better name match always wins, then an online owner, then the newer file.
 */

/** Query bounds: beyond them a query is malformed, not slow. */
export const MAX_QUERY_WORDS = 16;
export const MAX_QUERY_WORD_CHARS = 100;
export const MAX_QUERY_CHARS = 512;
export const MAX_SEARCH_LIMIT = 200;
export const MAX_SEARCH_OFFSET = 10_000;

/**
 * Matches ranked per query at most. Ranking reads each candidate's row, a few microseconds
 * apiece: a word found in 30,000 of a million files would take ~100 ms, so a broader query
 * ranks the first 5,000 matches (SQLite: the most recently indexed) and says so (truncated).
 */
export const SEARCH_CANDIDATES = 5000;

const SQLITE_MMAP_BYTES = 1024 ** 3;
const SQLITE_CACHE_KIB = 64 * 1024;

/** Rows per INSERT statement (16 parameters each: well under both databases' limits). */
const INSERT_CHUNK = 500;
// PostgreSQL advisory-lock namespace for an account's index batches (the second key is the account).
const ACCOUNT_LOCK_SPACE = 0x75646e73;

const SearchQuerySchema = z.object({
  words: z.array(z.string().max(MAX_QUERY_WORD_CHARS)).max(MAX_QUERY_WORDS),
  kind: z.enum(MEDIA_KINDS).optional(),
  minSize: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  maxSize: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  owner: z.string().min(1).max(64).optional(),
  includeOffline: z.boolean(),
  limit: z.number().int().min(1).max(MAX_SEARCH_LIMIT),
  offset: z.number().int().min(0).max(MAX_SEARCH_OFFSET),
  nowMs: z.number().int().nonnegative().max(8.64e15),
});

const BatchSchema = z.object({
  reset: z.array(z.number().int().min(0).max(INDEX_BUCKETS - 1)).max(INDEX_BUCKETS),
  upserts: z.array(IndexEntry).max(MAX_INDEX_BATCH_ENTRIES),
  removes: z.array(IndexPath).max(MAX_INDEX_BATCH_ENTRIES),
}).refine((batch) => batch.upserts.length + batch.removes.length <= MAX_INDEX_BATCH_ENTRIES, { error: `at most ${MAX_INDEX_BATCH_ENTRIES} entries per batch` });

const LimitsSchema = z.object({ entriesPerShare: z.number().int().nonnegative(), entriesPerAccount: z.number().int().nonnegative() });

const ShareSchema = z.object({
  label: z.string().min(1).max(63),
  accountId: z.number().int().positive().max(2_147_483_647),
  locked: z.boolean(),
  expiresAt: z.number().int().positive().max(8.64e15).nullable(),
});

/** The statements one call (or one transaction) runs. */
interface Sql {
  rows(sql: string, ...params: unknown[]): Promise<Record<string, unknown>[]>;
  run(sql: string, ...params: unknown[]): Promise<number>;
}

type RawClient = {
  $queryRawUnsafe<T = unknown>(sql: string, ...params: unknown[]): Promise<T>;
  $executeRawUnsafe(sql: string, ...params: unknown[]): Promise<number>;
};

/** Thrown inside a transaction to roll it back when a limit would be exceeded. */
class LimitExceeded extends Error {}

/** One IndexedFile row, computed before the transaction so it holds locks only for SQL. */
interface FileRow {
  path: string;
  name: string;
  folder: string;
  size: number;
  mtime: number;
  type: string;
  kind: string;
  sha256: string | null;
  price: number | null;
  merkleRoot: string | null;
  bucket: number;
  digest: number;
  nameKey: string;
  folderKey: string;
  terms: string;
}

/**
 * The members' index in the store's database (see storeDatabase): no second connection pool.
 * The tables come with the store's migrations.
 */
export function createSearchIndex(store: AccountStore): SearchIndex {
  const { prisma, dialect } = storeDatabase(store);
  return new SqlSearchIndex(prisma as unknown as RawClient & { $transaction: TransactionFn }, dialect);
}

type TransactionFn = <T>(fn: (tx: RawClient) => Promise<T>, options?: { maxWait?: number; timeout?: number }) => Promise<T>;

function num(value: unknown): number {
  return Number(value);
}

function bool(value: unknown): boolean {
  return value === true || num(value) === 1;
}

/**
 * A seller's trust from a joined TrustScore row (server/trust/, derived state): no row, or no
 * counted rating and no lost dispute, shows no score yet. One decimal, as pages show it.
 */
function trustOf(row: Record<string, unknown>): SellerTrustView {
  const ratings = row.trustRatings === null || row.trustRatings === undefined ? 0 : num(row.trustRatings);
  const disputesLost = row.trustDisputes === null || row.trustDisputes === undefined ? 0 : num(row.trustDisputes);
  const counted = ratings > 0 || disputesLost > 0;
  return { score: counted && row.trustScore !== null ? Math.round(num(row.trustScore) * 10) / 10 : null, ratings, disputesLost };
}

function shareOf(row: Record<string, unknown>): ListedShare {
  return {
    label: String(row.label),
    accountId: num(row.accountId),
    locked: bool(row.locked),
    expiresAt: row.expiresAt === null ? null : num(row.expiresAt),
    online: bool(row.online),
    reachable: row.reachable === null ? null : bool(row.reachable),
    entries: num(row.entries),
  };
}

function boolLiteral(value: boolean): string {
  return value ? 'TRUE' : 'FALSE';
}

function intLiteral(value: number): string {
  if (!Number.isSafeInteger(value)) throw new UdnsError('internal', `not an integer for SQL: ${value}`);
  return String(value);
}

function badRequest(what: string, error: z.ZodError): UdnsError {
  const issue = error.issues[0];
  const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
  return new UdnsError('bad_request', `malformed ${what}${where}: ${issue?.message ?? 'invalid'}`);
}

/** Builds the row for an entry: names, keys and terms for search, bucket and digest for sync. */
export function fileRow(entry: IndexEntry): FileRow {
  const { name, folder } = splitSharePath(entry.path);
  const nameKey = searchKey(name);
  const folderKey = searchKey(folder);
  return {
    path: entry.path,
    name,
    folder,
    size: entry.size,
    mtime: entry.mtime,
    type: entry.type,
    kind: mediaKind(entry.type, entry.path),
    sha256: entry.sha256 ?? null,
    price: entry.price ?? null,
    merkleRoot: entry.price === undefined ? null : entry.merkleRoot ?? null,
    bucket: bucketOf(entry.path),
    // Stored as a signed 32-bit INTEGER (PostgreSQL has no unsigned one).
    digest: entryDigest(entry) | 0,
    nameKey,
    folderKey,
    terms: indexTerms(nameKey, folderKey),
  };
}

class SqlSearchIndex implements SearchIndex {
  readonly #client: RawClient & { $transaction: TransactionFn };
  readonly #dialect: Dialect;
  readonly #sql: Sql;

  constructor(client: RawClient & { $transaction: TransactionFn }, dialect: Dialect) {
    this.#client = client;
    this.#dialect = dialect;
    this.#sql = this.#wrap(client);
    if (dialect === 'sqlite') {
      // Ranking reads one row per candidate at random: through mmap instead of read() calls,
      // with a larger page cache, that is about 3× faster on a 1M-file index (measured:
      // 288 → 103 ms for 27,000 candidates). The store has one connection, so this covers it.
      // An optimisation only: if it fails, searches work as before.
      void client.$queryRawUnsafe(`PRAGMA mmap_size = ${SQLITE_MMAP_BYTES}`)
        .then(() => client.$queryRawUnsafe(`PRAGMA cache_size = -${SQLITE_CACHE_KIB}`))
        .catch(() => undefined);
    }
  }

  /** `?` placeholders become `$1…` for PostgreSQL; no SQL here has a `?` inside a literal. */
  #text(sql: string): string {
    if (this.#dialect === 'sqlite') return sql;
    let n = 0;
    return sql.replace(/\?/g, () => `$${++n}`);
  }

  #wrap(client: RawClient): Sql {
    return {
      rows: (sql, ...params) => client.$queryRawUnsafe<Record<string, unknown>[]>(this.#text(sql), ...params),
      run: (sql, ...params) => client.$executeRawUnsafe(this.#text(sql), ...params),
    };
  }

  #transaction<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.#client.$transaction((tx) => fn(this.#wrap(tx)), { maxWait: 30_000, timeout: 120_000 });
  }

  async openShare(share: { label: string; accountId: number; locked: boolean; expiresAt: number | null }): Promise<Uint32Array> {
    const parsed = ShareSchema.safeParse(share);
    if (!parsed.success) throw badRequest('share', parsed.error);
    const { label, accountId, locked, expiresAt } = parsed.data;
    await this.#transaction(async (sql) => {
      const [name] = await sql.rows(`SELECT "id", "accountId" FROM "Name" WHERE "label" = ?`, label);
      if (name === undefined || num(name.accountId) !== accountId) {
        throw new UdnsError('forbidden', `the name "${label}" is not yours: claim it before listing a share under it`);
      }
      await sql.run(
        `INSERT INTO "ListedShare" ("nameId", "label", "accountId", "locked", "expiresAt", "online")
         VALUES (${intLiteral(num(name.id))}, ?, ${intLiteral(accountId)}, ${boolLiteral(locked)}, ${expiresAt === null ? 'NULL' : intLiteral(expiresAt)}, TRUE)
         ON CONFLICT ("nameId") DO UPDATE SET "locked" = excluded."locked", "expiresAt" = excluded."expiresAt", "online" = TRUE`,
        label,
      );
    });
    return this.bucketDigests(label);
  }

  /** XOR of the stored entries' digests per bucket (all zero for an unknown share). */
  async bucketDigests(label: string): Promise<Uint32Array> {
    const digests = new Uint32Array(INDEX_BUCKETS);
    const rows = await this.#sql.rows(
      `SELECT f."bucket", f."digest" FROM "IndexedFile" f JOIN "ListedShare" s ON s."id" = f."shareId" WHERE s."label" = ?`,
      label,
    );
    for (const row of rows) {
      const bucket = num(row.bucket);
      digests[bucket] = (digests[bucket]! ^ num(row.digest)) >>> 0;
    }
    return digests;
  }

  async applyBatch(
    label: string,
    batch: { reset: readonly number[]; upserts: readonly IndexEntry[]; removes: readonly string[] },
    limits: IndexLimits,
  ): Promise<ApplyOutcome> {
    const parsed = BatchSchema.safeParse(batch);
    if (!parsed.success) throw badRequest('index batch', parsed.error);
    const parsedLimits = LimitsSchema.safeParse(limits);
    if (!parsedLimits.success) throw badRequest('index limits', parsedLimits.error);
    const { entriesPerShare, entriesPerAccount } = parsedLimits.data;
    const reset = [...new Set(parsed.data.reset)].sort((a, b) => a - b);
    const removes = [...new Set(parsed.data.removes)];
    // The same path twice in one batch: the last one wins (one row can't be upserted twice in a statement).
    const byPath = new Map<string, FileRow>();
    for (const entry of parsed.data.upserts) byPath.set(entry.path, fileRow(entry));
    const rows = [...byPath.values()];

    try {
      return await this.#transaction(async (sql) => {
        const share = await this.#lockShare(sql, label);
        const shareId = intLiteral(share.id);
        let entries = share.entries;
        if (reset.length > 0) {
          entries -= await sql.run(`DELETE FROM "IndexedFile" WHERE "shareId" = ${shareId} AND "bucket" IN (${reset.map(intLiteral).join(',')})`);
        }
        if (removes.length > 0) {
          entries -= await sql.run(`DELETE FROM "IndexedFile" WHERE "shareId" = ${shareId} AND "path" IN (${this.#pathList()})`, JSON.stringify(removes));
        }
        if (rows.length > 0) {
          const paths = rows.map((row) => row.path);
          const [existing] = await sql.rows(`SELECT count(*) AS "n" FROM "IndexedFile" WHERE "shareId" = ${shareId} AND "path" IN (${this.#pathList()})`, JSON.stringify(paths));
          entries += rows.length - num(existing?.n ?? 0);
          for (let i = 0; i < rows.length; i += INSERT_CHUNK) await this.#upsert(sql, share.id, rows.slice(i, i + INSERT_CHUNK));
        }
        // A share already over a lowered limit may still shrink.
        if (entries > share.entries) {
          if (entries > entriesPerShare) {
            throw new LimitExceeded(`the share "${label}" would hold ${entries} files, more than the edge's limit of ${entriesPerShare}: list a smaller folder`);
          }
          const [others] = await sql.rows(`SELECT COALESCE(SUM("entries"), 0) AS "n" FROM "ListedShare" WHERE "accountId" = ${intLiteral(share.accountId)} AND "id" <> ${shareId}`);
          const total = num(others?.n ?? 0) + entries;
          if (total > entriesPerAccount) {
            throw new LimitExceeded(`the account's listed shares would hold ${total} files, more than the edge's limit of ${entriesPerAccount}: unlist a share or list smaller folders`);
          }
        }
        if (entries !== share.entries) await sql.run(`UPDATE "ListedShare" SET "entries" = ${intLiteral(entries)} WHERE "id" = ${shareId}`);
        return { ok: true as const, entries };
      });
    } catch (error) {
      if (error instanceof LimitExceeded) return { ok: false, code: 'index_limit', message: error.message };
      throw error;
    }
  }

  /** The share's row, locked for this transaction together with its account's batches (PostgreSQL). */
  async #lockShare(sql: Sql, label: string): Promise<{ id: number; accountId: number; entries: number }> {
    const read = async (forUpdate: boolean) => {
      const [row] = await sql.rows(`SELECT "id", "accountId", "entries" FROM "ListedShare" WHERE "label" = ?${forUpdate ? ' FOR UPDATE' : ''}`, label);
      if (row === undefined) throw new UdnsError('not_found', `the share "${label}" is not listed: send listShare first`);
      return { id: num(row.id), accountId: num(row.accountId), entries: num(row.entries) };
    };
    if (this.#dialect === 'sqlite') return read(false);
    // Account first, then the share: every batch takes the locks in this order, so two edges
    // applying batches for one account serialise instead of both passing the account limit.
    const first = await read(false);
    await sql.rows(`SELECT pg_advisory_xact_lock(${ACCOUNT_LOCK_SPACE}, ${intLiteral(first.accountId)})::text AS "locked"`);
    return read(true);
  }

  /**
   * One parameter for a whole list: a JSON array the database expands (json_each /
   * json_array_elements). Prisma's raw queries cost microseconds per parameter, which made
   * 500-row INSERTs with 5,000 parameters the slowest part of a bulk load.
   */
  #jsonRows(): string {
    return this.#dialect === 'sqlite' ? `json_each(?)` : `json_array_elements(?::json)`;
  }

  #pathList(): string {
    return this.#dialect === 'sqlite' ? `SELECT "value" FROM json_each(?)` : `SELECT json_array_elements_text(?::json)`;
  }

  async #upsert(sql: Sql, shareId: number, rows: FileRow[]): Promise<void> {
    const json = JSON.stringify(rows.map((r) => [r.path, r.name, r.folder, r.size, r.mtime, r.type, r.kind, r.sha256, r.bucket, r.digest, r.nameKey, r.folderKey, r.terms, r.price, r.merkleRoot]));
    const sqlite = this.#dialect === 'sqlite';
    const e = sqlite ? '"value"' : 'e';
    const big = (i: number) => (sqlite ? `${e} ->> ${i}` : `(${e} ->> ${i})::bigint`);
    const int = (i: number) => (sqlite ? `${e} ->> ${i}` : `(${e} ->> ${i})::integer`);
    const text = (i: number) => `${e} ->> ${i}`;
    const columns = ['size', 'mtime', 'type', 'kind', 'sha256', 'bucket', 'digest', 'nameKey', 'folderKey', 'terms', 'price', 'merkleRoot'];
    await sql.run(
      `INSERT INTO "IndexedFile" ("shareId", "path", "name", "folder", "size", "mtime", "type", "kind", "sha256", "bucket", "digest", "nameKey", "folderKey", "terms", "price", "merkleRoot")
       SELECT ${intLiteral(shareId)}, ${text(0)}, ${text(1)}, ${text(2)}, ${big(3)}, ${big(4)}, ${text(5)}, ${text(6)}, ${text(7)}, ${int(8)}, ${int(9)}, ${text(10)}, ${text(11)}, ${text(12)}, ${big(13)}, ${text(14)}
       FROM ${this.#jsonRows()}${sqlite ? '' : ' AS e'} WHERE TRUE
       ON CONFLICT ("shareId", "path") DO UPDATE SET ${columns.map((c) => `"${c}" = excluded."${c}"`).join(', ')}`,
      json,
    );
  }

  async setOnline(label: string, online: boolean): Promise<void> {
    await this.#sql.run(`UPDATE "ListedShare" SET "online" = ${boolLiteral(online === true)} WHERE "label" = ?`, label);
  }

  async setReachable(label: string, reachable: boolean | null): Promise<void> {
    const value = reachable === null ? 'NULL' : boolLiteral(reachable === true);
    await this.#sql.run(`UPDATE "ListedShare" SET "reachable" = ${value} WHERE "label" = ?`, label);
  }

  async markAllOffline(): Promise<void> {
    await this.#sql.run(`UPDATE "ListedShare" SET "online" = FALSE WHERE "online" = TRUE`);
  }

  async removeShare(label: string): Promise<void> {
    await this.#sql.run(`DELETE FROM "ListedShare" WHERE "label" = ?`, label);
  }

  async removeExpired(nowMs: number): Promise<number> {
    if (!Number.isSafeInteger(nowMs) || nowMs < 0) throw new UdnsError('bad_request', `malformed time ${nowMs}`);
    return this.#sql.run(`DELETE FROM "ListedShare" WHERE "expiresAt" IS NOT NULL AND "expiresAt" <= ${intLiteral(nowMs)}`);
  }

  async lookupFile(label: string, path: string, nowMs: number): Promise<IndexedFileLookup | null> {
    if (typeof label !== 'string' || label.length > 63 || !IndexPath.safeParse(path).success || !Number.isSafeInteger(nowMs)) return null;
    const [row] = await this.#sql.rows(
      `SELECT s."accountId", s."online", f."size", f."sha256", f."price", f."merkleRoot"
       FROM "IndexedFile" f JOIN "ListedShare" s ON s."id" = f."shareId"
       WHERE s."label" = ? AND f."path" = ? AND (s."expiresAt" IS NULL OR s."expiresAt" > ${intLiteral(nowMs)})`,
      label,
      path,
    );
    if (row === undefined) return null;
    return {
      ownerId: num(row.accountId),
      online: bool(row.online),
      size: num(row.size),
      sha256: row.sha256 === null ? null : String(row.sha256),
      price: row.price === null ? null : num(row.price),
      merkleRoot: row.merkleRoot === null ? null : String(row.merkleRoot),
    };
  }

  async sharesOf(accountId: number): Promise<ListedShare[]> {
    if (!Number.isSafeInteger(accountId)) return [];
    const rows = await this.#sql.rows(
      `SELECT "label", "accountId", "locked", "expiresAt", "online", "reachable", "entries" FROM "ListedShare" WHERE "accountId" = ${intLiteral(accountId)} ORDER BY "label"`,
    );
    return rows.map(shareOf);
  }

  async getShare(label: string): Promise<ListedShare | null> {
    const [row] = await this.#sql.rows(
      `SELECT "label", "accountId", "locked", "expiresAt", "online", "reachable", "entries" FROM "ListedShare" WHERE "label" = ?`,
      label,
    );
    return row === undefined ? null : shareOf(row);
  }

  async search(query: SearchQuery): Promise<SearchResult> {
    const parsed = SearchQuerySchema.safeParse(query);
    if (!parsed.success) throw badRequest('search', parsed.error);
    const q = parsed.data;
    if (q.words.reduce((sum, word) => sum + word.length, 0) > MAX_QUERY_CHARS) {
      throw new UdnsError('bad_request', `the query is longer than ${MAX_QUERY_CHARS} characters: search for fewer words`);
    }
    const keys = [...new Set(q.words.map(searchKey).filter((key) => key !== ''))];
    if (keys.length === 0) throw new UdnsError('bad_request', 'give at least one word with a letter or digit to search for');

    const sqlite = this.#dialect === 'sqlite';
    const position = (haystack: string, needle: string) => (sqlite ? `instr(${haystack}, ${needle})` : `strpos(${haystack}, ${needle})`);
    const params: unknown[] = [];
    const where: string[] = [];
    // PostgreSQL: the shares a hit may come from, read first (a thousand rows, well under a
    // millisecond), so the candidate query has no join and reads IndexedFile rows only until
    // it has SEARCH_CANDIDATES + 1 of them. Joined in the same statement, the planner estimates
    // a handful of matches for a multi-bigram tsquery (bigrams are not independent: 9 estimated,
    // 7,987 real for "vacation" at 300,000 files), hashes the IndexedFile side of the join, and
    // so fetches every matching row from the heap before the LIMIT. The id lists are integers
    // from the database; a constant IN list of more than 8 is hashed, one probe per row.
    let onlineScore = `CASE WHEN s."online" = TRUE THEN 1 ELSE 0 END`;
    if (!sqlite) {
      const shareWhere = [`(s."expiresAt" IS NULL OR s."expiresAt" > ${intLiteral(q.nowMs)})`];
      const shareParams: unknown[] = [];
      if (!q.includeOffline) shareWhere.push(`s."online" = TRUE`);
      if (q.owner !== undefined) {
        shareWhere.push(`a."name" = ?`);
        shareParams.push(q.owner);
      }
      const shares = await this.#sql.rows(
        `SELECT s."id", s."online" FROM "ListedShare" s JOIN "Account" a ON a."id" = s."accountId" WHERE ${shareWhere.join(' AND ')} ORDER BY s."id"`,
        ...shareParams,
      );
      if (shares.length === 0) return { hits: [], total: 0 };
      const online = shares.filter((row) => bool(row.online)).map((row) => intLiteral(num(row.id)));
      const offline = shares.filter((row) => !bool(row.online)).map((row) => intLiteral(num(row.id)));
      where.push(`f."shareId" IN (${shares.map((row) => intLiteral(num(row.id))).join(',')})`);
      onlineScore = offline.length === 0 ? '1' : online.length === 0 ? '0'
        : online.length <= offline.length ? `CASE WHEN f."shareId" IN (${online.join(',')}) THEN 1 ELSE 0 END`
          : `CASE WHEN f."shareId" IN (${offline.join(',')}) THEN 0 ELSE 1 END`;
    }

    // 1. Candidates: the full-text match on every word's bigrams (or one-character prefixes),
    //    the exact check of each word within the name or the folder, and the filters; at most
    //    SEARCH_CANDIDATES + 1 of them (SQLite: the most recently indexed first).
    const terms = keys.map(queryTerms);
    const all = [...new Set(terms.flatMap((t) => t.all))];
    const prefixes = [...new Set(terms.flatMap((t) => t.prefixes))];
    let from: string;
    if (sqlite) {
      // CROSS JOIN keeps the FTS table as the outer loop, so rows come in its rowid order and
      // the LIMIT stops the scan early.
      from = `"IndexedFileTerms" t CROSS JOIN "IndexedFile" f ON f."id" = t."rowid"`;
      where.push(`"IndexedFileTerms" MATCH ?`);
      params.push([...all.map((term) => `"${term}"`), ...prefixes.map((term) => `"${term}"*`)].join(' AND '));
    } else {
      from = `"IndexedFile" f`;
      const lexeme = (term: string) => `'${term.replace(/['\\]/g, (c) => `\\${c}`)}'`;
      where.push(`array_to_tsvector(string_to_array(f."terms", ' ')) @@ ?::tsquery`);
      params.push([...all.map(lexeme), ...prefixes.map((term) => `${lexeme(term)}:*`)].join(' & '));
    }
    for (const key of keys) {
      where.push(`(${position('f."nameKey"', '?')} > 0 OR ${position('f."folderKey"', '?')} > 0)`);
      params.push(key, key);
    }
    if (sqlite) {
      where.push(`(s."expiresAt" IS NULL OR s."expiresAt" > ${intLiteral(q.nowMs)})`);
      if (!q.includeOffline) where.push(`s."online" = TRUE`);
    }
    if (q.kind !== undefined) {
      where.push(`f."kind" = ?`);
      params.push(q.kind);
    }
    if (q.minSize !== undefined) where.push(`f."size" >= ${intLiteral(q.minSize)}`);
    if (q.maxSize !== undefined) where.push(`f."size" <= ${intLiteral(q.maxSize)}`);
    if (sqlite && q.owner !== undefined) {
      where.push(`a."name" = ?`);
      params.push(q.owner);
    }
    // 2. Ranking of the candidates (see the top of this file).
    const scoreParams: unknown[] = [];
    const phrase = keys.join(' ');
    const phraseChars = Array.from(phrase).length;
    // The whole name, or the whole name but its last word (the extension).
    const whole = `(f."nameKey" = ? OR (substr(f."nameKey", 1, ${phraseChars + 1}) = ? AND ${position(`substr(f."nameKey", ${phraseChars + 2})`, `' '`)} = 0))`;
    scoreParams.push(phrase, `${phrase} `);
    const startsWord = keys.map(() => `${position(`' ' || f."nameKey"`, '?')} > 0`);
    for (const key of keys) scoreParams.push(` ${key}`);
    const inName = keys.map(() => `${position('f."nameKey"', '?')} > 0`);
    for (const key of keys) scoreParams.push(key);
    const tier = `CASE WHEN ${whole} THEN 3 WHEN ${startsWord.join(' AND ')} THEN 2 WHEN ${inName.join(' AND ')} THEN 1 ELSE 0 END`;
    const now = intLiteral(q.nowMs + 1);
    const recency = `CASE WHEN f."mtime" >= ${now} THEN 0.999999 ELSE CAST(f."mtime" AS DOUBLE PRECISION) / ${now} END`;
    const score = `(2 * (${tier}) + ${onlineScore} + ${recency})`;
    const joins = sqlite ? ` JOIN "ListedShare" s ON s."id" = f."shareId" JOIN "Account" a ON a."id" = s."accountId"` : '';

    // One pass scores the candidates; only the page's rows are read again for display.
    const candidates = `SELECT f."id", ${score} AS "score" FROM ${from}${joins}
      WHERE ${where.join(' AND ')}${sqlite ? ' ORDER BY t."rowid" DESC' : ''} LIMIT ${SEARCH_CANDIDATES + 1}`;
    const rows = await this.#sql.rows(
      `WITH "c" AS MATERIALIZED (${candidates})
       SELECT f."id", s."label", a."name" AS "owner", f."path", f."size", f."mtime", f."type", f."sha256", f."price", s."locked", s."online", s."reachable",
              "p"."score", (SELECT count(*) FROM "c") AS "total", ts."score" AS "trustScore", ts."ratings" AS "trustRatings", ts."disputesLost" AS "trustDisputes"
       FROM (SELECT "id", "score" FROM "c" ORDER BY "score" DESC, "id" DESC LIMIT ${intLiteral(q.limit)} OFFSET ${intLiteral(q.offset)}) "p"
       JOIN "IndexedFile" f ON f."id" = "p"."id" JOIN "ListedShare" s ON s."id" = f."shareId" JOIN "Account" a ON a."id" = s."accountId"
       LEFT JOIN "TrustScore" ts ON ts."accountId" = s."accountId"
       ORDER BY "p"."score" DESC, "p"."id" DESC`,
      ...scoreParams,
      ...params,
    );
    let total = rows.length > 0 ? num(rows[0]!.total) : 0;
    if (rows.length === 0 && q.offset > 0) {
      const [count] = await this.#sql.rows(`SELECT count(*) AS "n" FROM (${candidates}) "c"`, ...scoreParams, ...params);
      total = num(count?.n ?? 0);
    }
    const hits = rows.map((row): SearchHit => ({
      label: String(row.label),
      owner: String(row.owner),
      path: String(row.path),
      size: num(row.size),
      mtime: num(row.mtime),
      type: String(row.type),
      sha256: row.sha256 === null ? null : String(row.sha256),
      price: row.price === null ? null : num(row.price),
      trust: trustOf(row),
      locked: bool(row.locked),
      online: bool(row.online),
      reachable: row.reachable === null ? null : bool(row.reachable),
      score: num(row.score),
    }));
    return total > SEARCH_CANDIDATES ? { hits, total, truncated: true } : { hits, total };
  }
}
