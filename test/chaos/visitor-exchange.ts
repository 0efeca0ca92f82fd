import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { StallWatchdog } from './stall-watchdog.js';

/** One HTTP exchange as a visitor lived it, whatever happened to the edge and the agent. */
export interface Exchange {
  /** Undefined when no response head arrived. */
  status: number | undefined;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /**
   * The response's own framing said it was whole: Content-Length bytes arrived, or the chunked
   * terminator. False for a body cut by a reset or an early close.
   */
  complete: boolean;
  /** The first error seen (connection refused, reset, aborted). */
  error: string | undefined;
  /** No byte moved for the stall bound: the watchdog broke it off. */
  hung: boolean;
}

export interface ExchangeRequest {
  port: number;
  host: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** Send the body chunked instead of with Content-Length. */
  chunked?: boolean;
  /** Pause this long after each 64 KiB sent or received, so a transfer is still moving when a fault lands. */
  paceMs: number;
  stallBoundMs: number;
  /** Called once the exchange is mid-transfer: half the body sent, or the first body bytes received. */
  onMoving?: () => void;
}

const PIECE = 64 * 1024;

/**
 * Sends one request to the edge on a fresh connection and reads the whole answer, recording
 * what a careful client can tell: the status, every byte, and whether the framing completed.
 * Never rejects: a broken exchange is an outcome, judged by the caller.
 */
export function exchange(request: ExchangeRequest): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let status: number | undefined;
    let headers: http.IncomingHttpHeaders = {};
    let error: string | undefined;
    let settled = false;
    const watchdog = new StallWatchdog(request.stallBoundMs, () => req.destroy(new Error(`stalled for ${request.stallBoundMs} ms`)));
    const finish = (complete: boolean): void => {
      if (settled) return;
      settled = true;
      watchdog.stop();
      resolve({ status, headers, body: Buffer.concat(chunks), complete, error, hung: watchdog.hung });
    };
    const lengthHeader: Record<string, string> = request.body && !request.chunked ? { 'content-length': String(request.body.length) } : {};
    const req = http.request({
      host: '127.0.0.1', port: request.port, method: request.method, path: request.path, agent: false,
      headers: { host: request.host, ...lengthHeader, ...request.headers },
    }, (res) => {
      status = res.statusCode;
      headers = res.headers;
      watchdog.poke();
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        watchdog.poke();
        request.onMoving?.();
        if (request.paceMs > 0) {
          res.pause();
          setTimeout(() => res.resume(), request.paceMs);
        }
      });
      res.on('end', () => finish(res.complete));
      res.on('error', (cause: Error) => { error ??= cause.message; });
      res.on('close', () => finish(false));
    });
    req.on('error', (cause: NodeJS.ErrnoException) => {
      error ??= cause.code ?? cause.message;
      // Once a response is under way, its own events say how it ended.
      if (status === undefined) finish(false);
    });
    void writeBody(req, request, watchdog);
  });
}

async function writeBody(req: http.ClientRequest, request: ExchangeRequest, watchdog: StallWatchdog): Promise<void> {
  const body = request.body;
  if (!body) {
    req.end();
    return;
  }
  for (let offset = 0; offset < body.length; offset += PIECE) {
    if (req.destroyed) return;
    if (!req.write(body.subarray(offset, offset + PIECE))) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          req.off('drain', done);
          req.off('close', done);
          resolve();
        };
        req.on('drain', done);
        req.on('close', done);
      });
    }
    watchdog.poke();
    if (offset + PIECE >= body.length / 2) request.onMoving?.();
    if (request.paceMs > 0) await sleep(request.paceMs);
  }
  if (!req.destroyed) req.end();
}

/** How one operation ended, for the tally. */
export type OpResult = 'complete' | 'refused' | 'broken';

/** Statuses the edge or agent answer while a PC is offline or restarting: a refusal, not a fault. */
export const OFFLINE_STATUSES = new Set([502, 503, 504]);

/**
 * An exchange that never got a response head: refused when the connection itself was (the
 * edge down), broken when it was cut after the request went out.
 */
export function unanswered(result: Exchange): OpResult {
  return result.error === 'ECONNREFUSED' ? 'refused' : 'broken';
}

/**
 * Judges a download whose right bytes are `expected`: a complete answer must be exactly them; a
 * broken one must be a prefix of them (what arrived is never wrong bytes) and must be visibly
 * broken; an offline status is a refusal, any other status a misleading answer (a finding).
 */
export function judgeDownload(what: string, result: Exchange, expected: Buffer): { result: OpResult; violations: string[]; findings: string[] } {
  const violations: string[] = [];
  const findings: string[] = [];
  if (result.hung) violations.push(`${what}: hung (no byte for the stall bound)`);
  if (result.status === undefined) return { result: unanswered(result), violations, findings };
  if (OFFLINE_STATUSES.has(result.status)) return { result: 'refused', violations, findings };
  if (result.status !== 200) {
    findings.push(`${what}: answered ${result.status}`);
    return { result: 'refused', violations, findings };
  }
  const declared = result.headers['content-length'];
  if (declared !== undefined && Number(declared) !== expected.length) violations.push(`${what}: Content-Length ${declared}, the file has ${expected.length}`);
  const prefixOk = result.body.length <= expected.length && result.body.equals(expected.subarray(0, result.body.length));
  if (!prefixOk) violations.push(`${what}: received bytes differ from the file's (${result.body.length} bytes received)`);
  if (result.complete) {
    if (result.body.length !== expected.length) violations.push(`${what}: presented as complete with ${result.body.length} of ${expected.length} bytes`);
    return { result: 'complete', violations, findings };
  }
  return { result: 'broken', violations, findings };
}
