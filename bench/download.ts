import http from 'node:http';

/** Where a GET goes: always 127.0.0.1, with the Host header the path needs. */
export interface HttpTarget {
  port: number;
  /** Host header; udns routes visitors by it. Omitted: `127.0.0.1:<port>`. */
  host?: string;
}

/** One GET whose body was counted and thrown away. */
export interface CountedResponse {
  status: number;
  bytes: number;
  seconds: number;
}

/** A bulk download: bytes received against bytes expected, and the rate. */
export interface DownloadResult {
  expectedBytes: number;
  bytes: number;
  seconds: number;
  /** Decimal megabytes (10^6 bytes) per second, over the whole request. */
  mbPerSec: number;
  /** Status 200 and exactly `expectedBytes` received. */
  ok: boolean;
  status: number;
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
      headers: { host: target.host ?? `127.0.0.1:${target.port}` },
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
