import { patternBytes } from '../helpers/origins.js';
import type { SeededRandom } from '../helpers/seeded-random.js';
import { SHARE_NAME, UPLOAD_FOLDER, WEB_NAME, sha256, type ChaosWorld } from './chaos-world.js';
import type { UploadLedger } from './upload-ledger.js';
import { OFFLINE_STATUSES, exchange, judgeDownload, unanswered, type Exchange, type ExchangeRequest, type OpResult } from './visitor-exchange.js';
import { judgeZip } from './zip-check.js';

/** What a chaos round can have visitors do while a fault lands. */
export type OpKind =
  | 'web-download' | 'web-upload' | 'websocket'
  | 'share-download' | 'share-put' | 'share-post' | 'share-zip'
  | 'get-file' | 'get-zip';

export const OP_KINDS: readonly OpKind[] = [
  'web-download', 'web-upload', 'websocket', 'share-download', 'share-put', 'share-post', 'share-zip', 'get-file', 'get-zip',
];

/** How one operation ended. */
export interface OpOutcome {
  kind: OpKind;
  result: OpResult;
  /** Payload bytes that moved (sent or received). */
  bytes: number;
  violations: string[];
  /**
   * Misleading answers: a status other than success or "offline" (502/503/504) where the
   * visitor should have had one of those. Reported; only the long run fails on them.
   */
  findings?: string[];
  /** Checks that need the world healthy again (a `udns get` run to completion). */
  afterHealthy?: () => Promise<string[]>;
  /** A `udns get` re-run that went on from the .part an earlier run left. */
  resumed?: boolean;
}

/** What every operation needs. */
export interface OpContext {
  world: ChaosWorld;
  random: SeededRandom;
  uploads: UploadLedger;
  /** The bound on a hang: no progress for this long is a failure. */
  stallBoundMs: number;
  /** Whole-run bound of one `udns get` process. */
  getBoundMs: number;
  /** Largest body an operation sends or asks for. */
  maxTransferBytes: number;
  /** Largest pause after each 64 KiB (see ExchangeRequest.paceMs). */
  maxPaceMs: number;
  /** The operation calls this once it is mid-transfer: a round may wait for it to land its fault. */
  moving: () => void;
}

function request(context: OpContext, name: string, fields: Omit<ExchangeRequest, 'port' | 'host' | 'paceMs' | 'stallBoundMs'>): Promise<Exchange> {
  return exchange({
    port: context.world.edge.httpPort, host: context.world.hostFor(name),
    paceMs: context.random.int(Math.floor(context.maxPaceMs / 4), context.maxPaceMs), stallBoundMs: context.stallBoundMs,
    onMoving: context.moving, ...fields,
  });
}

/** GET /bytes/<n> from the web app behind `udns http`. */
export async function webDownload(context: OpContext): Promise<OpOutcome> {
  const size = context.random.int(1, context.maxTransferBytes);
  const got = await request(context, WEB_NAME, { method: 'GET', path: `/bytes/${size}` });
  return { kind: 'web-download', bytes: got.body.length, ...judgeDownload(`web download of ${size} bytes`, got, patternBytes(0, size)) };
}

/**
 * POST /upload to the web app, with Content-Length or chunked. The app answers the length and
 * SHA-256 of what it received: an answer at all means it saw a complete request, so it must
 * be exactly what was sent (a cut upload passed on as whole would show here).
 */
export async function webUpload(context: OpContext): Promise<OpOutcome> {
  const body = context.random.bytes(context.random.int(0, context.maxTransferBytes));
  const chunked = context.random.chance(0.5);
  const got = await request(context, WEB_NAME, {
    method: 'POST', path: '/upload', body, chunked, headers: { 'content-type': 'application/octet-stream' },
  });
  const what = `web upload of ${body.length} bytes${chunked ? ' (chunked)' : ''}`;
  const violations = got.hung ? [`${what}: hung (no byte for the stall bound)`] : [];
  if (got.status === undefined) return { kind: 'web-upload', result: unanswered(got), bytes: 0, violations };
  if (OFFLINE_STATUSES.has(got.status)) return { kind: 'web-upload', result: 'refused', bytes: 0, violations };
  if (!got.complete) return { kind: 'web-upload', result: 'broken', bytes: 0, violations };
  if (got.status !== 200) {
    return { kind: 'web-upload', result: 'refused', bytes: 0, violations, findings: [`${what}: answered ${got.status}`] };
  } else {
    const seen = JSON.parse(got.body.toString()) as { length: number; sha256: string };
    if (seen.length !== body.length || seen.sha256 !== sha256(body)) {
      violations.push(`${what}: the web app answered for ${seen.length} different bytes: a cut request reached it as complete`);
    }
  }
  return { kind: 'web-upload', result: 'complete', bytes: body.length, violations };
}

/** GET big.bin from the share (Content-Length, served from disk by the agent). */
export async function shareDownload(context: OpContext): Promise<OpOutcome> {
  const got = await request(context, SHARE_NAME, { method: 'GET', path: '/big.bin' });
  return { kind: 'share-download', bytes: got.body.length, ...judgeDownload('share download of big.bin', got, context.world.bigFile) };
}

/** PUT /uploads/<unique name>: 201 means the share promises the file is in place, whole. */
export async function sharePut(context: OpContext, name: string): Promise<OpOutcome> {
  const body = context.random.bytes(context.random.int(0, uploadSize(context)));
  context.uploads.attempt(name, body);
  const got = await request(context, SHARE_NAME, { method: 'PUT', path: `/${UPLOAD_FOLDER}/${name}`, body });
  return judgeUpload('share-put', `PUT of ${name} (${body.length} bytes)`, got, body.length, () => {
    if (got.status === 201) context.uploads.ack(name);
    else if (got.status === 204) return `PUT of ${name}: 204 (replaced), but the name was new`;
    return undefined;
  });
}

/** A browser upload (multipart POST, JSON answer): a name in `saved` is acknowledged. */
export async function sharePost(context: OpContext, name: string): Promise<OpOutcome> {
  const content = context.random.bytes(context.random.int(0, uploadSize(context)));
  context.uploads.attempt(name, content);
  const boundary = `chaos${context.random.int(0, 1e9)}`;
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    content,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const got = await request(context, SHARE_NAME, {
    method: 'POST', path: `/${UPLOAD_FOLDER}/`, body,
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, accept: 'application/json' },
  });
  return judgeUpload('share-post', `upload of ${name} (${content.length} bytes)`, got, content.length, () => {
    if (got.status !== 200) return undefined;
    const saved = (JSON.parse(got.body.toString()) as { saved: Array<{ name: string; size: number }> }).saved;
    if (saved.length !== 1 || saved[0]!.name !== name || saved[0]!.size !== content.length) {
      return `upload of ${name}: answered saved ${JSON.stringify(saved)}`;
    }
    context.uploads.ack(name);
    return undefined;
  });
}

/**
 * Largest upload to the share: a quarter of the largest transfer, so that many finish and are
 * acknowledged while faults keep landing (the ledger then checks each one survives them).
 */
function uploadSize(context: OpContext): number {
  return Math.ceil(context.maxTransferBytes / 4);
}

/**
 * Shared judgement of an upload's answer. Statuses other than success are refusals: a cut
 * upload may be answered 400 ("nothing partial was kept") when the agent still could; what is
 * kept on disk is checked by the ledger, not here.
 */
function judgeUpload(kind: OpKind, what: string, got: Exchange, size: number, onComplete: () => string | undefined): OpOutcome {
  const violations = got.hung ? [`${what}: hung (no byte for the stall bound)`] : [];
  if (got.status === undefined) return { kind, result: unanswered(got), bytes: 0, violations };
  if (!got.complete) return { kind, result: 'broken', bytes: 0, violations };
  if (got.status >= 300) return { kind, result: 'refused', bytes: 0, violations };
  const problem = onComplete();
  if (problem) violations.push(problem);
  return { kind, result: 'complete', bytes: size, violations };
}

/**
 * GET /zipped/?zip, streamed (chunked) by the agent while it reads the files. A complete
 * answer must be a ZIP unzip accepts, holding every file; a cut one may be anything except a
 * ZIP unzip accepts with files missing.
 */
export async function shareZip(context: OpContext): Promise<OpOutcome> {
  const got = await request(context, SHARE_NAME, { method: 'GET', path: '/zipped/?zip' });
  const violations = got.hung ? ['ZIP download: hung (no byte for the stall bound)'] : [];
  if (got.status === undefined) return { kind: 'share-zip', result: unanswered(got), bytes: 0, violations };
  if (OFFLINE_STATUSES.has(got.status)) return { kind: 'share-zip', result: 'refused', bytes: 0, violations };
  if (got.status !== 200) return { kind: 'share-zip', result: 'refused', bytes: 0, violations, findings: [`ZIP download: answered ${got.status}`] };
  const verdict = await judgeZip(got.body, context.world.zipped);
  if (got.complete && verdict !== 'whole') violations.push(`ZIP download presented as complete (${got.body.length} bytes) but unzip finds it ${verdict}`);
  if (!got.complete && verdict === 'short') violations.push(`cut ZIP download (${got.body.length} bytes) passes unzip -t with files missing`);
  return { kind: 'share-zip', result: got.complete ? 'complete' : 'broken', bytes: got.body.length, violations };
}
