import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ERROR_CODES } from './errors.js';

/*
 * The members' index: an agent with a listed share (`udns share DIR --list`) publishes what a
 * visitor of that share could see (path, size, modification time, media type, SHA-256) to the
 * edge, which keeps it in its database for search. The sync runs on the tunnel's control
 * stream:
 *
 *   agent → listShare { routeId, summary }        after routeRegistered, and on every reconnect
 *   edge  → indexWanted { routeId, buckets }      the buckets whose digest differs from the edge's copy
 *   agent → indexBatch { routeId, seq, reset, upserts, removes }   as many as needed, then
 *           live deltas (same message, no reset) as the folder changes
 *   edge  → indexAck { routeId, seq }             one per batch; the agent keeps at most
 *                                                  INDEX_WINDOW batches unacknowledged
 *   edge  → indexRefused { routeId, code, message }  the share is not (or no longer) listed
 *   agent → unlistShare { routeId }               the share stops (Ctrl-C, config change)
 *
 * Paths are split into INDEX_BUCKETS buckets by the hash of the path. Each bucket has a digest
 * (XOR of its entries' digests), so after a reconnect the agent sends 4096 digests (32 KiB)
 * and then only the buckets that differ, instead of the whole index. The edge computes its
 * digests from what it stored, so a sync cut off half-way heals on the next one.
 *
 * The edge acknowledges a batch once it is stored, and may delay acknowledgements to hold an
 * agent to its update rate: flow control, not an error. A batch beyond the window, a malformed
 * entry or a batch for a share that is not listed is a protocol violation.
 */

/** Buckets of the summary: 2^12. */
export const INDEX_BUCKETS = 4096;
/** Unacknowledged batches an agent may have in flight per tunnel. */
export const INDEX_WINDOW = 4;
/** Entries (upserts + removes) in one batch. */
export const MAX_INDEX_BATCH_ENTRIES = 500;
/** Longest path of an indexed file, in UTF-8 bytes. */
export const MAX_INDEX_PATH_BYTES = 1024;

const requestId = z.number().int().nonnegative();
const routeId = z.string().min(1).max(64);
const errorCode = z.enum(ERROR_CODES);

/** A path inside the share: `/`-separated, absolute, no empty, `.` or `..` segment, no NUL, at most 1 KiB. */
export const IndexPath = z.string().min(2).refine(isIndexPath, { error: 'not a clean share path of at most 1024 bytes' });

/** One file as the index holds it. Folders are not entries: a file's path names its folders. */
export const IndexEntry = z.object({
  path: IndexPath,
  /** Bytes. */
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  /** Last modification, ms since the epoch (whole ms). */
  mtime: z.number().int().nonnegative().max(8.64e15),
  /** Media type, e.g. `application/pdf`; `application/octet-stream` when unknown. */
  type: z.string().min(3).max(127).regex(/^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/),
  /** Lowercase hex SHA-256 of the content; absent until the agent has hashed the file. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  /**
   * A paid file's price in credits (issue 11). Only with sha256 and merkleRoot: a paid file is
   * listed once the agent has committed to its content.
   */
  price: z.number().int().positive().max(1_000_000_000_000).optional(),
  /** A paid file's plaintext Merkle root over CHUNK_BYTES chunks (protocol/merkle.ts), lowercase hex. */
  merkleRoot: z.string().regex(/^[0-9a-f]{64}$/).optional(),
}).strict().refine((entry) => entry.price === undefined || (entry.sha256 !== undefined && entry.merkleRoot !== undefined), {
  error: 'a priced entry needs sha256 and merkleRoot',
});

/** The agent's summary of a share: entry count and the digests of all INDEX_BUCKETS buckets. */
export const IndexSummary = z.object({
  entries: z.number().int().nonnegative(),
  /** INDEX_BUCKETS × 8 lowercase hex characters, bucket 0 first (see bucketDigestsHex). */
  digests: z.string().length(INDEX_BUCKETS * 8).regex(/^[0-9a-f]*$/),
}).strict();

export const ListShare = z.object({
  type: z.literal('listShare'),
  requestId,
  routeId,
  /** The share asks for a password: results show a lock. */
  locked: z.boolean(),
  /** When the share expires (ms since the epoch); it drops out of results then. */
  expiresAt: z.number().int().positive().optional(),
  summary: IndexSummary,
}).strict();

export const IndexWanted = z.object({
  type: z.literal('indexWanted'),
  requestId,
  routeId,
  /** Buckets the agent must send in full (each with `reset`), ascending, no repeats. */
  buckets: z.array(z.number().int().min(0).max(INDEX_BUCKETS - 1)).max(INDEX_BUCKETS),
}).strict();

export const IndexBatch = z.object({
  type: z.literal('indexBatch'),
  routeId,
  /** Per tunnel, from 0, one more per batch: the ack names it. */
  seq: z.number().int().nonnegative(),
  /** Buckets whose stored entries the edge deletes before applying this batch's upserts. */
  reset: z.array(z.number().int().min(0).max(INDEX_BUCKETS - 1)).max(INDEX_BUCKETS).default([]),
  upserts: z.array(IndexEntry).max(MAX_INDEX_BATCH_ENTRIES).default([]),
  removes: z.array(IndexPath).max(MAX_INDEX_BATCH_ENTRIES).default([]),
}).strict().refine((batch) => batch.upserts.length + batch.removes.length <= MAX_INDEX_BATCH_ENTRIES, {
  error: `at most ${MAX_INDEX_BATCH_ENTRIES} entries per batch`,
});

export const IndexAck = z.object({
  type: z.literal('indexAck'),
  routeId,
  seq: z.number().int().nonnegative(),
}).strict();

export const IndexRefused = z.object({
  type: z.literal('indexRefused'),
  routeId,
  /** `index_limit` (too many entries for the share or account), `forbidden` (search is off), … */
  code: errorCode,
  message: z.string().max(512),
}).strict();

export const UnlistShare = z.object({
  type: z.literal('unlistShare'),
  routeId,
}).strict();

export type IndexEntry = z.infer<typeof IndexEntry>;
export type IndexSummary = z.infer<typeof IndexSummary>;
export type ListShare = z.infer<typeof ListShare>;
export type IndexWanted = z.infer<typeof IndexWanted>;
export type IndexBatch = z.infer<typeof IndexBatch>;
export type IndexAck = z.infer<typeof IndexAck>;
export type IndexRefused = z.infer<typeof IndexRefused>;
export type UnlistShare = z.infer<typeof UnlistShare>;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True for `/a/b.txt`-style paths: absolute, clean, no NUL or control characters, ≤ 1 KiB. */
export function isIndexPath(path: string): boolean {
  if (!path.startsWith('/') || path.length < 2) return false;
  if (Buffer.byteLength(path, 'utf8') > MAX_INDEX_PATH_BYTES) return false;
  // Lone surrogates would not survive a round trip through UTF-8 (the database, the URL).
  if (LONE_SURROGATE.test(path)) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return false;
  return path.slice(1).split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/** The bucket of a path: the first 12 bits of SHA-256 of its UTF-8 bytes. */
export function bucketOf(path: string): number {
  const hash = createHash('sha256').update(path, 'utf8').digest();
  return (hash[0]! << 4) | (hash[1]! >> 4);
}

/** An entry's digest: the first 32 bits of SHA-256 over every field, so any change shows. */
export function entryDigest(entry: IndexEntry): number {
  // Free files keep the digest they had before prices existed.
  const paid = entry.price === undefined ? '' : `\0${entry.price}\0${entry.merkleRoot ?? ''}`;
  const text = `${entry.path}\0${entry.size}\0${entry.mtime}\0${entry.type}\0${entry.sha256 ?? ''}${paid}`;
  return createHash('sha256').update(text, 'utf8').digest().readUInt32BE(0);
}

/** Bucket digests (XOR of entry digests, 0 for an empty bucket) as IndexSummary.digests. */
export function bucketDigestsHex(digests: Uint32Array): string {
  if (digests.length !== INDEX_BUCKETS) throw new RangeError(`expected ${INDEX_BUCKETS} bucket digests`);
  let hex = '';
  for (const digest of digests) hex += digest.toString(16).padStart(8, '0');
  return hex;
}

/** The inverse of bucketDigestsHex. */
export function parseBucketDigests(hex: string): Uint32Array {
  const digests = new Uint32Array(INDEX_BUCKETS);
  for (let bucket = 0; bucket < INDEX_BUCKETS; bucket++) digests[bucket] = Number.parseInt(hex.slice(bucket * 8, bucket * 8 + 8), 16);
  return digests;
}

/** The buckets whose digests differ, ascending. */
export function differingBuckets(mine: Uint32Array, theirs: Uint32Array): number[] {
  const differ: number[] = [];
  for (let bucket = 0; bucket < INDEX_BUCKETS; bucket++) if (mine[bucket] !== theirs[bucket]) differ.push(bucket);
  return differ;
}
