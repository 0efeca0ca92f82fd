import { z } from 'zod';
import { ERROR_CODES } from './errors.js';
import { MAX_TRANSFER_PATH_LENGTH } from './transfer.js';

/*
 * Transfer records of relayed downloads. The edge relays a share's bytes without reading them
 * (one visitor connection = one tunnel stream, maybe several requests), so only the agent knows
 * which file went down a stream; only the edge knows how many bytes it actually carried. The
 * agent reports each file response on the control stream, naming the visitor stream; the edge
 * pairs the report with its own count for that stream and records the smaller of the two, with
 * the owner taken from the tunnel's account and the receiver from what the edge knows of the
 * visitor. A report for a stream the edge never carried (or forgot: REPORT_PAIRING_WINDOW_MS
 * after it closed) is refused. Direct and push transfers are reported by `transferServed`
 * (transfer.ts), tied to a ticket.
 */

/** How long after a visitor stream closed the edge still takes reports for it. */
export const REPORT_PAIRING_WINDOW_MS = 120_000;
/** Reports a tunnel may send per second, on average (burst: TRANSFER_REPORT_BURST). */
export const TRANSFER_REPORTS_PER_SECOND = 50;
export const TRANSFER_REPORT_BURST = 500;
/** File reports one visitor stream may carry (keep-alive: several files on one connection). */
export const MAX_REPORTS_PER_STREAM = 1_000;
/** How long an agent waits for a file's SHA-256 (shared with `?checksum=sha256`) before reporting without it. */
export const REPORT_DIGEST_WAIT_MS = 60_000;

const byteCount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const epochMs = z.number().int().nonnegative().max(8_640_000_000_000_000);

/** Agent → edge: one file response of a share, sent over visitor stream `streamId`, has ended. */
export const TransferReport = z.object({
  type: z.literal('transferReport'),
  /** The agent's id for this report (random): a report sent twice is recorded once. */
  reportId: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  /** The share route the stream was opened for. */
  routeId: z.string().max(64),
  /** The HTTP/2 id of the visitor stream (the same on both ends of the tunnel). */
  streamId: z.number().int().positive().max(2 ** 31 - 1),
  /** The file's path in the share, decoded, starting with `/`. */
  path: z.string().min(1).max(MAX_TRANSFER_PATH_LENGTH).startsWith('/'),
  /** Hex SHA-256 of the whole file, when the agent knew it. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  /** The file's size, and the first byte this response sent (Range). */
  size: byteCount,
  offset: byteCount,
  /** Body bytes the agent handed to the stream. */
  bytes: byteCount,
  /** `complete`: the response was sent in full; `partial`: cut off after some bytes; `failed`: none. */
  outcome: z.enum(['complete', 'partial', 'failed']),
  startedAt: epochMs,
  endedAt: epochMs,
}).strict();

/** Why the edge refused a report (nothing was recorded). */
export const TransferReportRefused = z.object({
  type: z.literal('transferReportRefused'),
  reportId: z.string().max(64),
  code: z.enum(ERROR_CODES),
  message: z.string().max(512),
}).strict();

export type TransferReport = z.infer<typeof TransferReport>;
export type TransferReportRefused = z.infer<typeof TransferReportRefused>;

/** One record as `GET /api/v1/transfers` shows it (times ISO 8601, sizes in bytes). */
export const TransferRecordView = z.object({
  id: z.number().int(),
  share: z.string(),
  path: z.string(),
  sha256: z.string().nullable(),
  size: z.number().nullable(),
  offset: z.number(),
  /** The sharer's account name (null when the account no longer exists). */
  owner: z.string().nullable(),
  /** The receiving member, or null for an anonymous visitor (then `receiverNetwork`). */
  receiver: z.string().nullable(),
  receiverNetwork: z.string().nullable(),
  via: z.enum(['direct', 'push', 'relay', 'http']),
  startedAt: z.string(),
  endedAt: z.string(),
  bytes: z.number(),
  bytesUp: z.number(),
  outcome: z.enum(['complete', 'partial', 'failed']),
  reportedBy: z.enum(['edge', 'agent']),
  recordedAt: z.string(),
  hash: z.string(),
  prevHash: z.string(),
});
export type TransferRecordView = z.infer<typeof TransferRecordView>;

/** The answer of `GET /api/v1/transfers?role=sent|received|all&kind=files|http|all&limit&before`. */
export const TransferList = z.object({
  role: z.enum(['sent', 'received', 'all']),
  transfers: z.array(TransferRecordView),
  /** Pass as `before` for the next (older) page; null on the last page. */
  next: z.number().int().nullable(),
});
export type TransferList = z.infer<typeof TransferList>;

/** Most records one page of `GET /api/v1/transfers` holds. */
export const MAX_TRANSFERS_PAGE = 500;

/** The answer of `GET /api/v1/transfers/verify` (admin): the chain checked from the first record. */
export const ChainVerdictView = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), records: z.number().int(), head: z.string() }),
  z.object({ ok: z.literal(false), records: z.number().int(), brokenAt: z.number().int(), reason: z.string() }),
]);
export type ChainVerdictView = z.infer<typeof ChainVerdictView>;
