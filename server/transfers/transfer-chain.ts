import { createHash } from 'node:crypto';

/*
 * The hash chain over the transfer records: each row stores the previous row's hash (prevHash)
 * and the SHA-256 of prevHash and its own canonical content (hash). Changing, removing or
 * reordering any row breaks every link after it, so a copy of the latest hash (handed to a
 * member, or published) is enough to check the whole history. Issue 11 builds the ledger on it.
 */

/** prevHash of the first record. */
export const GENESIS_HASH = '0'.repeat(64);

/** Tags the encoding, so a later version can change it without making old rows unverifiable. */
export const CHAIN_ENCODING = 'udns-transfer-v1';

/** The hashed fields of a record, as stored. */
export interface ChainedFields {
  readonly reportId: string;
  readonly share: string;
  readonly path: string;
  readonly sha256: string | null;
  readonly size: bigint | null;
  readonly offset: bigint;
  readonly ownerId: number;
  readonly receiverId: number | null;
  readonly receiverNetwork: string | null;
  readonly via: string;
  readonly startedAt: Date;
  readonly endedAt: Date;
  readonly bytes: bigint;
  readonly bytesUp: bigint;
  readonly outcome: string;
  readonly reportedBy: string;
  readonly ticketId: string | null;
  readonly recordedAt: Date;
}

/**
 * The canonical encoding: a JSON array in a fixed field order, integers over 2^53 safe as
 * decimal strings, times as ISO 8601 UTC with milliseconds (what both databases keep).
 */
export function canonicalRecord(fields: ChainedFields): string {
  return JSON.stringify([
    CHAIN_ENCODING,
    fields.reportId,
    fields.share,
    fields.path,
    fields.sha256,
    fields.size === null ? null : fields.size.toString(),
    fields.offset.toString(),
    fields.ownerId,
    fields.receiverId,
    fields.receiverNetwork,
    fields.via,
    fields.startedAt.toISOString(),
    fields.endedAt.toISOString(),
    fields.bytes.toString(),
    fields.bytesUp.toString(),
    fields.outcome,
    fields.reportedBy,
    fields.ticketId,
    fields.recordedAt.toISOString(),
  ]);
}

/** Hex SHA-256 of `prevHash`, a newline and the canonical encoding. */
export function chainHash(prevHash: string, fields: ChainedFields): string {
  return createHash('sha256').update(prevHash).update('\n').update(canonicalRecord(fields)).digest('hex');
}

/** What {@link verifyLinks} found. */
export type ChainVerdict =
  | { readonly ok: true; readonly records: number; readonly head: string }
  | { readonly ok: false; readonly records: number; readonly brokenAt: number; readonly reason: string };

/**
 * Checks rows in id order, continuing from `state` (the previous page's last hash), and
 * returns the first broken link, or the new state.
 */
export function verifyLinks(
  rows: ReadonlyArray<ChainedFields & { readonly id: number; readonly prevHash: string; readonly hash: string }>,
  state: { head: string; records: number },
): ChainVerdict {
  let { head, records } = state;
  for (const row of rows) {
    if (row.prevHash !== head) {
      return { ok: false, records, brokenAt: row.id, reason: `record ${row.id} does not follow the one before it (prevHash ${row.prevHash.slice(0, 12)}…, expected ${head.slice(0, 12)}…): a record before it was removed or changed` };
    }
    const expected = chainHash(row.prevHash, row);
    if (row.hash !== expected) {
      return { ok: false, records, brokenAt: row.id, reason: `record ${row.id} was changed after it was written (its content no longer matches its hash)` };
    }
    head = row.hash;
    records++;
  }
  return { ok: true, records, head };
}
