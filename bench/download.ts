import http from 'node:http';

/** What an upload writes, again and again. */
const UPLOAD_CHUNK = Buffer.alloc(256 * 1024, 'u');

/** Where a GET goes: always 127.0.0.1, with the Host header the path needs. */
export interface HttpTarget {
  port: number;
  /** Host header; udns routes visitors by it. Omitted: `127.0.0.1:<port>`. */
  host?: string;
  /** Authorization header every request sends (the `udns-auth` path's `--basic-auth`). */
  authorization?: string;
}

/** One GET whose body was counted and thrown away. */
export interface CountedResponse {
  status: number;
  bytes: number;
  seconds: number;
}

/** A bulk transfer (download or upload): bytes moved against bytes expected, and the rate. */
export interface TransferResult {
  expectedBytes: number;
  /** Bytes received (download) or bytes the origin says it received (upload). */
  bytes: number;
  seconds: number;
  /** Decimal megabytes (10^6 bytes) per second, over the whole request. */
  mbPerSec: number;
  /** Status 200 and exactly `expectedBytes` received. */
  ok: boolean;
  status: number;
}

/** A bulk download's result. */
export type DownloadResult = TransferResult;

/** Several downloads started at once: each one's result, and how evenly they shared. */
export interface ParallelDownloads {
  downloads: DownloadResult[];
  /** Slowest MB/s over fastest: 1 is perfectly fair. */
  fairness: number;
  /** All bytes over the time until the last one finished, in MB/s. */
  aggregateMbPerSec: number;
}

/**
 * GETs `path` on a fresh connection, counting body bytes without keeping them. Rejects on a
 * socket error or when the whole exchange takes longer than `timeoutMs`.
 */
export function getAndCount(target: HttpTarget, path: string, timeoutMs: number): Promise<CountedResponse> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const request = http.get({
      host: '127.0.0.1',
      port: target.port,
      path,
      agent: false,
      headers: { host: target.host ?? `127.0.0.1:${target.port}`, ...(target.authorization ? { authorization: target.authorization } : {}) },
    });
    const timeout = new Error(`GET ${path} took longer than ${timeoutMs} ms`);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      request.destroy(timeout);
    }, timeoutMs);
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.on('response', (response) => {
      let bytes = 0;
      response.on('data', (chunk: Buffer) => { bytes += chunk.length; });
      response.on('error', () => {});
      response.on('close', () => {
        clearTimeout(timer);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        // A body cut short ends in 'close' without 'complete': report it as a short count.
        if (!response.complete && !request.destroyed) request.destroy();
        if (timedOut) reject(timeout);
        else resolve({ status: response.statusCode ?? 0, bytes, seconds });
      });
    });
  });
}

/** Downloads `path` once and checks that exactly `expectedBytes` arrived with status 200. */
export async function measureDownload(target: HttpTarget, path: string, expectedBytes: number, timeoutMs: number): Promise<DownloadResult> {
  const { status, bytes, seconds } = await getAndCount(target, path, timeoutMs);
  return {
    expectedBytes,
    bytes,
    seconds,
    mbPerSec: bytes / 1e6 / seconds,
    ok: status === 200 && bytes === expectedBytes,
    status,
  };
}

/** Starts `count` downloads of `path` at once on separate connections and waits for all. */
export async function measureParallelDownloads(target: HttpTarget, path: string, expectedBytes: number, count: number, timeoutMs: number): Promise<ParallelDownloads> {
  const started = process.hrtime.bigint();
  const downloads = await Promise.all(Array.from({ length: count }, () => measureDownload(target, path, expectedBytes, timeoutMs)));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const rates = downloads.map((d) => d.mbPerSec);
  const fastest = Math.max(...rates);
  return {
    downloads,
    fairness: fastest > 0 ? Math.min(...rates) / fastest : 0,
    aggregateMbPerSec: downloads.reduce((sum, d) => sum + d.bytes, 0) / 1e6 / seconds,
  };
}

/**
 * POSTs `totalBytes` to `path` (the origin counts and discards them and answers the count) on a
 * fresh connection, writing one reused buffer with backpressure, so nothing piles up in memory.
 * The time runs from the request until the origin's answer has arrived.
 */
export function measureUpload(target: HttpTarget, path: string, totalBytes: number, timeoutMs: number): Promise<TransferResult> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const request = http.request({
      host: '127.0.0.1',
      port: target.port,
      path,
      method: 'POST',
      agent: false,
      headers: {
        host: target.host ?? `127.0.0.1:${target.port}`,
        ...(target.authorization ? { authorization: target.authorization } : {}),
        'content-type': 'application/octet-stream',
        'content-length': totalBytes,
      },
    });
    const timer = setTimeout(() => request.destroy(new Error(`POST ${path} took longer than ${timeoutMs} ms`)), timeoutMs);
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    let left = totalBytes;
    const pump = (): void => {
      while (left > 0 && !request.destroyed) {
        const size = Math.min(left, UPLOAD_CHUNK.length);
        left -= size;
        if (!request.write(size === UPLOAD_CHUNK.length ? UPLOAD_CHUNK : UPLOAD_CHUNK.subarray(0, size))) {
          request.once('drain', pump);
          return;
        }
      }
      if (left === 0) request.end();
    };
    pump();
    request.on('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { text = (text + chunk).slice(0, 100); });
      response.on('error', () => {});
      response.on('close', () => {
        clearTimeout(timer);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const status = response.statusCode ?? 0;
        const counted = /^\d+$/.test(text.trim()) ? Number(text.trim()) : 0;
        resolve({ expectedBytes: totalBytes, bytes: counted, seconds, mbPerSec: counted / 1e6 / seconds, ok: status === 200 && counted === totalBytes, status });
      });
    });
  });
}

/**
 * Retries a 1-request probe until it answers 200 with `expectedBytes`, proving a path is live
 * end to end before it is measured.
 */
export async function waitUntilServing(target: HttpTarget, path: string, expectedBytes: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  while (Date.now() < deadline) {
    try {
      const response = await getAndCount(target, path, 5000);
      if (response.status === 200 && response.bytes === expectedBytes) return;
      last = `status ${response.status}, ${response.bytes} bytes`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`127.0.0.1:${target.port}${path} (Host ${target.host ?? 'default'}) not serving after ${timeoutMs} ms: ${last}`);
}
