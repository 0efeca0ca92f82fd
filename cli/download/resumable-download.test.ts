import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { isUdnsError } from '../../protocol/index.js';
import type { DownloadProgress } from './download-progress.js';
import { partFilesFor, readPartState, writePartState } from './part-state.js';
import { downloadFile, parseContentRange, type FileDownloadOptions } from './resumable-download.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/**
 * A small file server with the share's download contract (Range, ETag, If-Range,
 * ?checksum=sha256) and knobs to break it the ways a tunnel breaks.
 */
class FlakyOrigin {
  content: Buffer = randomBytes(3 * 1024 * 1024 + 17);
  version = 1;
  /** Statuses to answer before serving again (503 while "the agent restarts"); undefined serves. */
  statuses: Array<number | undefined> = [];
  /** Cut the connection after this many body bytes of the next responses, one per response. */
  cutAfter: number[] = [];
  checksum: 'right' | 'wrong' | 'none' = 'right';
  requests: Array<{ range?: string; ifRange?: string; url: string }> = [];
  private server = http.createServer((req, res) => this.handle(req, res));

  get etag(): string {
    return `W/"v${this.version}"`;
  }

  async listen(): Promise<URL> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return new URL(`http://127.0.0.1:${(this.server.address() as AddressInfo).port}/files/data.bin`);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  replace(content: Buffer): void {
    this.content = content;
    this.version += 1;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.searchParams.get('checksum') === 'sha256') {
      if (this.checksum === 'none') return void res.writeHead(404).end('no');
      const digest = this.checksum === 'right' ? sha256(this.content) : sha256(Buffer.from('something else'));
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ algorithm: 'sha256', digest, size: this.content.length, etag: this.etag }));
    }
    this.requests.push({ url: req.url ?? '', range: req.headers.range, ifRange: String(req.headers['if-range'] ?? '') || undefined });
    const status = this.statuses.shift();
    if (status !== undefined) return void res.writeHead(status).end('offline');
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const fresh = req.headers['if-range'] === undefined || req.headers['if-range'] === this.etag;
    if (range && fresh) {
      start = Number(range[1]);
      if (start >= this.content.length) {
        return void res.writeHead(416, { 'content-range': `bytes */${this.content.length}` }).end();
      }
      res.writeHead(206, { etag: this.etag, 'content-length': this.content.length - start, 'content-range': `bytes ${start}-${this.content.length - 1}/${this.content.length}` });
    } else {
      res.writeHead(200, { etag: this.etag, 'content-length': this.content.length });
    }
    const body = this.content.subarray(start);
    const cut = this.cutAfter.shift();
    if (cut === undefined) return void res.end(body);
    res.write(body.subarray(0, cut), () => setTimeout(() => res.destroy(), 20));
  }
}

class RecordedProgress implements DownloadProgress {
  notes: string[] = [];
  starts: Array<{ total: number | undefined; done: number }> = [];
  start(_label: string, total: number | undefined, done: number): void { this.starts.push({ total, done }); }
  update(): void {}
  note(line: string): void { this.notes.push(line); }
  finish(): void {}
  stop(): void {}
}

let origin: FlakyOrigin;
let url: URL;
let dir: string;
let progress: RecordedProgress;
let options: FileDownloadOptions;

beforeEach(async () => {
  origin = new FlakyOrigin();
  url = await origin.listen();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-get-'));
  progress = new RecordedProgress();
  options = { access: { trust: { insecure: false } }, progress, retry: { retries: 4, delayMs: () => 10 }, verifyChecksum: true, label: 'data.bin' };
});
afterEach(async () => {
  await origin.close();
  // However the download ended (whole, given up, refused, mismatched), its .part is closed.
  if (process.platform === 'linux') expect(openFilesUnder(dir)).toEqual([]);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Files under `folder` that this process holds open. */
function openFilesUnder(folder: string): string[] {
  return fs.readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(`${fs.realpathSync(folder)}${path.sep}`) ? [target] : [];
    } catch {
      return [];
    }
  });
}

describe('resumable download', () => {
  test('a clean download lands whole, checksum verified, no .part left behind', async () => {
    const file = path.join(dir, 'data.bin');
    const result = await downloadFile(url, file, options);
    expect(fs.readFileSync(file).equals(origin.content)).toBe(true);
    expect(result).toMatchObject({ size: origin.content.length, sha256: sha256(origin.content), checksum: 'verified', resumedFrom: 0 });
    expect(fs.readdirSync(dir)).toEqual(['data.bin']);
  });

  test('connections cut mid-body are retried, each retry resuming where the disk stopped', async () => {
    origin.cutAfter = [1_000_000, 500_000];
    const file = path.join(dir, 'data.bin');
    const result = await downloadFile(url, file, options);
    expect(fs.readFileSync(file).equals(origin.content)).toBe(true);
    expect(result.checksum).toBe('verified');
    // Each retry asks for what is missing: no more than was sent before the cut (bytes in
    // flight when the connection reset may be lost), and further than the previous attempt.
    const starts = origin.requests.map((r) => (r.range === undefined ? undefined : Number(/^bytes=(\d+)-$/.exec(r.range)![1])));
    expect(starts).toHaveLength(3);
    expect(starts[0]).toBeUndefined();
    expect(starts[1]).toBeGreaterThan(0);
    expect(starts[1]).toBeLessThanOrEqual(1_000_000);
    expect(starts[2]).toBeGreaterThan(starts[1]!);
    expect(starts[2]).toBeLessThanOrEqual(starts[1]! + 500_000);
    expect(origin.requests[1]!.ifRange).toBe(origin.etag);
    expect(progress.notes.filter((n) => /retrying/.test(n))).toHaveLength(2);
  });

  test('502/503 while the agent restarts are waited out', async () => {
    origin.statuses = [503, 502, 503];
    const file = path.join(dir, 'data.bin');
    await downloadFile(url, file, options);
    expect(fs.readFileSync(file).equals(origin.content)).toBe(true);
    expect(progress.notes.join('\n')).toMatch(/answered 503.*retrying in/);
  });

  test('an outage longer than the retries gives up with a clear line and keeps the .part', async () => {
    origin.cutAfter = [100_000];
    origin.statuses = [undefined, ...Array<number>(10).fill(503)];
    const file = path.join(dir, 'data.bin');
    const error = await downloadFile(url, file, options).catch((e: unknown) => e);
    expect(isUdnsError(error, 'server_unreachable')).toBe(true);
    expect((error as Error).message).toMatch(/gave up after 4 retries: run the same command again to resume/);
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.statSync(`${file}.part`).size).toBeLessThanOrEqual(100_000);
    expect(readPartState(partFilesFor(file))).toEqual({ url: url.href, etag: origin.etag, size: origin.content.length });
  });

  test('a later run resumes an existing .part with Range and If-Range', async () => {
    const file = path.join(dir, 'data.bin');
    fs.writeFileSync(`${file}.part`, origin.content.subarray(0, 1_234_567));
    writePartState(partFilesFor(file), { url: url.href, etag: origin.etag, size: origin.content.length });
    const result = await downloadFile(url, file, options);
    expect(origin.requests).toEqual([{ url: '/files/data.bin', range: 'bytes=1234567-', ifRange: origin.etag }]);
    expect(result.resumedFrom).toBe(1_234_567);
    expect(result.sha256).toBe(sha256(origin.content));
    expect(fs.readFileSync(file).equals(origin.content)).toBe(true);
    expect(fs.existsSync(`${file}.part.json`)).toBe(false);
  });

  test('If-Range mismatch (the file changed): the 200 restarts the part from zero', async () => {
    const file = path.join(dir, 'data.bin');
    fs.writeFileSync(`${file}.part`, origin.content.subarray(0, 2_000_000));
    writePartState(partFilesFor(file), { url: url.href, etag: origin.etag, size: origin.content.length });
    origin.replace(randomBytes(1_500_000));
    const result = await downloadFile(url, file, options);
    expect(result.resumedFrom).toBe(0);
    expect(fs.readFileSync(file).equals(origin.content)).toBe(true);
    expect(progress.notes.join('\n')).toMatch(/changed on the share since the last run; starting over/);
  });

  test('a .part from another URL, or without state, is not trusted', async () => {
    const file = path.join(dir, 'data.bin');
    fs.writeFileSync(`${file}.part`, Buffer.alloc(1000, 1));
    writePartState(partFilesFor(file), { url: 'http://elsewhere.example/data.bin', etag: origin.etag });
    await downloadFile(url, file, options);
    expect(origin.requests[0]!.range).toBeUndefined();
    expect(fs.readFileSync(file).equals(origin.content)).toBe(true);
  });

  test('a complete .part that was never renamed is finished without downloading again (416)', async () => {
    const file = path.join(dir, 'data.bin');
    fs.writeFileSync(`${file}.part`, origin.content);
    writePartState(partFilesFor(file), { url: url.href, etag: origin.etag, size: origin.content.length });
    const result = await downloadFile(url, file, options);
    expect(result.checksum).toBe('verified');
    expect(fs.readFileSync(file).equals(origin.content)).toBe(true);
  });

  test('checksum mismatch: a clear error, no final file and no .part', async () => {
    origin.checksum = 'wrong';
    const file = path.join(dir, 'data.bin');
    const error = await downloadFile(url, file, options).catch((e: unknown) => e);
    expect(isUdnsError(error, 'protocol_violation')).toBe(true);
    expect((error as Error).message).toMatch(/does not match the share's SHA-256.*nothing was saved/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test('a server without checksums: size checked only, with a note', async () => {
    origin.checksum = 'none';
    const file = path.join(dir, 'data.bin');
    const result = await downloadFile(url, file, options);
    expect(result.checksum).toBe('not offered');
    expect(progress.notes.join('\n')).toMatch(/no checksum offered/);
  });

  test('a wrong password fails at once, without retries', async () => {
    origin.statuses = [401];
    const error = await downloadFile(url, path.join(dir, 'data.bin'), { ...options, access: { ...options.access, password: 'nope' } }).catch((e: unknown) => e);
    expect(isUdnsError(error, 'unauthorized')).toBe(true);
    expect((error as Error).message).toBe(`wrong password for ${url.host}`);
    expect(origin.requests).toHaveLength(1);
  });
});

test('Content-Range parsing', () => {
  expect(parseContentRange('bytes 100-199/1000')).toEqual({ start: 100, total: 1000 });
  expect(parseContentRange('bytes */1000')).toEqual({ total: 1000 });
  expect(parseContentRange('bytes 0-9/*')).toEqual({ start: 0 });
  expect(parseContentRange('items 0-9/10')).toBeUndefined();
  expect(parseContentRange(undefined)).toBeUndefined();
});
