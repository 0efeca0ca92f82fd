import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import type http from 'node:http';
import { REPORT_DIGEST_WAIT_MS } from '../../protocol/index.js';
import type { FileTransferReport } from '../routes/route-handler.js';

/** A file a share is about to send in answer to a GET. */
export interface ServedFile {
  /** Its path in the share, decoded, starting with `/`. */
  readonly path: string;
  readonly stats: Stats;
  /** The file's SHA-256, shared with `?checksum=sha256` (one read per file version). */
  readonly digest: () => Promise<string>;
}

/**
 * Watches one file response and reports it once it ends: body bytes handed to the connection,
 * the range, and whether it was sent in full. A complete response waits (at most
 * REPORT_DIGEST_WAIT_MS) for the file's SHA-256: `udns get` asks for it right after a download,
 * and both share the one computation. Error answers (304, 404, 416 …) are not transfers.
 */
export function meterFileResponse(res: http.ServerResponse, file: ServedFile, streamId: number, report: (report: FileTransferReport) => void): void {
  const startedAt = Date.now();
  let bytes = 0;
  countBodyBytes(res, (n) => {
    bytes += n;
  });

  res.once('close', () => {
    if (!res.headersSent || (res.statusCode !== 200 && res.statusCode !== 206)) return;
    const offset = res.statusCode === 206 ? Number(/^bytes (\d+)-/.exec(String(res.getHeader('Content-Range') ?? ''))?.[1] ?? 0) : 0;
    const expected = Number(res.getHeader('Content-Length'));
    const complete = res.writableFinished && Number.isFinite(expected) && bytes === expected;
    const base: FileTransferReport = {
      reportId: randomBytes(12).toString('base64url'),
      streamId,
      path: file.path,
      size: file.stats.size,
      offset: Math.min(offset, file.stats.size),
      bytes: Math.min(bytes, Math.max(0, file.stats.size - offset)),
      outcome: complete ? 'complete' : bytes > 0 ? 'partial' : 'failed',
      startedAt,
      endedAt: Date.now(),
    };
    if (!complete) {
      report(base);
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), REPORT_DIGEST_WAIT_MS);
      timer.unref();
    });
    Promise.race([file.digest().catch(() => null), timeout]).then((sha256) => {
      clearTimeout(timer);
      report(sha256 === null ? base : { ...base, sha256 });
    }, () => report(base));
  });
}

/**
 * Calls `onBytes` with the size of every body chunk `res` is handed (write and end; headers
 * are not counted), before it goes on: a response's own counters do not exist in node:http.
 */
export function countBodyBytes(res: http.ServerResponse, onBytes: (bytes: number) => void): void {
  const count = (chunk: unknown): void => {
    if (typeof chunk === 'string') onBytes(Buffer.byteLength(chunk));
    else if (chunk instanceof Uint8Array) onBytes(chunk.length);
  };
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => http.ServerResponse;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    count(chunk);
    return write(chunk, ...rest);
  }) as typeof res.write;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    // end(callback) has no body.
    if (typeof chunk !== 'function') count(chunk);
    return end(chunk, ...rest);
  }) as typeof res.end;
}
