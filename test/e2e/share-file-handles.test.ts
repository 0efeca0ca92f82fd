import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { eventually } from '../helpers/eventually.js';
import { makeShareFixture, type ShareFixture } from '../helpers/share-fixtures.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { downloadSha256, hostFor, visit } from '../helpers/visitor.js';

/*
 * Finding 7 of the reliability review: a share agent whose visitors aborted ZIP downloads
 * printed DEP0137 ("Closing file descriptor N on garbage collection"): a FileHandle nobody
 * closed, found by the garbage collector. Node will make that a thrown error, which would end
 * the agent. Here visitors abort every kind of share request (ZIPs, files, ranges, checksums,
 * uploads, PUTs, WebDAV) at random moments, the collector runs, and no handle may be left to
 * it: no DEP0137 warning, and no file of the share still open.
 */

// The collector on demand: vitest.config.ts starts the workers with --expose-gc.
const collectGarbage = (globalThis as { gc?: () => void }).gc ?? ((): never => {
  throw new Error('run with node --expose-gc (vitest.config.ts execArgv)');
});

/** Seeded, so a failing run can be replayed: the seed is in the test's name. */
const SEED = Number(process.env.UDNS_TEST_SEED ?? Date.now() % 100_000);
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Files of the share this process holds open (links in /proc/self/fd), temp uploads included. */
function openFilesUnder(root: string): string[] {
  const open: string[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(`${root}${path.sep}`)) open.push(target);
    } catch {
      // Closed between the listing and the readlink (the listing's own fd, for one).
    }
  }
  return open;
}

function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** When the visitor goes away: before any answer, after some time, or after some bytes of it. */
type Abort = { kind: 'at-once' } | { kind: 'after-ms'; ms: number } | { kind: 'after-bytes'; bytes: number };

/**
 * Sends `head` and `body` (the part of a request body sent before the visitor left) on a raw
 * connection to the edge, then drops the connection as `abort` says: with a TCP reset when
 * `reset`, else with a plain close.
 */
async function abortedRequest(edge: TestEdge, head: string, body: Buffer, abort: Abort, reset: boolean): Promise<void> {
  const socket = net.connect(edge.edge.httpPort, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let received = 0;
  let enough: () => void = () => {};
  const gotEnough = new Promise<void>((resolve) => { enough = resolve; });
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (abort.kind === 'after-bytes' && received >= abort.bytes) enough();
  });
  socket.write(head);
  if (body.length > 0) socket.write(body);
  if (abort.kind === 'after-ms') await Promise.race([new Promise((resolve) => setTimeout(resolve, abort.ms)), closed]);
  // A request whose body was cut gets no answer to wait for: it is dropped after a while all the same.
  if (abort.kind === 'after-bytes') await Promise.race([gotEnough, closed, new Promise((resolve) => setTimeout(resolve, 500))]);
  if (reset && !socket.destroyed) socket.resetAndDestroy();
  else socket.destroy();
  await closed;
}

/** A multipart head and body of one large file, as a browser's upload form sends it. */
function multipartUpload(host: string, name: string, size: number): { head: string; body: Buffer } {
  const boundary = '----udnsfilehandles';
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    Buffer.alloc(size, 7),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const head = `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\n\r\n`;
  return { head, body };
}

const MIB = 1024 * 1024;
const ROUNDS = 16;

describe.skipIf(process.platform !== 'linux')('share requests aborted at any moment leave no file handle to the garbage collector', () => {
  let edge: TestEdge;
  let agent: Agent;
  let fixture: ShareFixture;
  let root: string;
  const leaks: string[] = [];
  const onWarning = (warning: Error & { code?: string }): void => {
    if (warning.code === 'DEP0137' || /on garbage collection/.test(warning.message)) leaks.push(`${warning.code ?? warning.name}: ${warning.message}`);
  };

  beforeAll(async () => {
    process.on('warning', onWarning);
    fixture = makeShareFixture();
    root = fs.realpathSync(fixture.root);
    // Large enough that no buffer on the way holds a whole file: an abandoned read stays open.
    for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(root, `big-${i}.bin`), Buffer.alloc(2 * MIB, i + 1));
    edge = await startTestEdge();
    agent = await startTestAgent(edge, [{ kind: 'share', dir: root, name: 'handles', allowUpload: true, webdav: true }]);
  });
  afterAll(async () => {
    process.off('warning', onWarning);
    agent?.stop();
    await edge?.close();
    fixture?.cleanup();
  });

  test(`ZIPs, files, ranges, checksums, uploads, PUTs and WebDAV aborted at random moments (seed ${SEED})`, async () => {
    const host = hostFor(edge, 'handles');
    // One whole ZIP and one WebDAV request first: what loads on first use is loaded before counting.
    expect((await downloadSha256(edge, 'handles', '/?zip')).status).toBe(200);
    expect((await visit(edge, 'handles', '/', { method: 'PROPFIND', headers: { depth: '1' } })).status).toBe(207);
    const fdsBefore = openFdCount();
    expect(openFilesUnder(root)).toEqual([]);

    const next = random(SEED);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
    const upload = multipartUpload(host, 'upload.bin', 4 * MIB);
    const putBody = Buffer.alloc(4 * MIB, 9);
    const propfind = Buffer.from('<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>\n');
    const requests: { name: string; head: string; body: Buffer }[] = [
      { name: 'zip', head: `GET /?zip HTTP/1.1\r\nHost: ${host}\r\n\r\n`, body: Buffer.alloc(0) },
      { name: 'folder zip', head: `GET /${encodeURIComponent('한글 폴더')}/?zip HTTP/1.1\r\nHost: ${host}\r\n\r\n`, body: Buffer.alloc(0) },
      { name: 'file', head: `GET /big-1.bin HTTP/1.1\r\nHost: ${host}\r\n\r\n`, body: Buffer.alloc(0) },
      { name: 'range', head: `GET /big-2.bin HTTP/1.1\r\nHost: ${host}\r\nRange: bytes=1000-\r\n\r\n`, body: Buffer.alloc(0) },
      { name: 'checksum', head: `GET /big-3.bin?checksum=sha256 HTTP/1.1\r\nHost: ${host}\r\nAccept: application/json\r\n\r\n`, body: Buffer.alloc(0) },
      { name: 'upload', head: upload.head, body: upload.body },
      { name: 'put', head: `PUT /put.bin HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${putBody.length}\r\n\r\n`, body: putBody },
      { name: 'webdav propfind body', head: `PROPFIND / HTTP/1.1\r\nHost: ${host}\r\nDepth: 1\r\nContent-Type: application/xml\r\nContent-Length: ${propfind.length}\r\n\r\n`, body: propfind },
      { name: 'webdav propfind', head: `PROPFIND / HTTP/1.1\r\nHost: ${host}\r\nDepth: 1\r\nContent-Length: 0\r\n\r\n`, body: Buffer.alloc(0) },
    ];
    const jobs: (() => Promise<void>)[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const request of requests) {
        const moment = pick(['at-once', 'after-ms', 'after-bytes'] as const);
        const abort: Abort = moment === 'at-once' ? { kind: 'at-once' }
          : moment === 'after-ms' ? { kind: 'after-ms', ms: Math.floor(next() * 40) }
            : { kind: 'after-bytes', bytes: 1 + Math.floor(next() * 3 * MIB) };
        // An upload is cut somewhere in its body; the rest of the requests have none.
        const body = request.body.subarray(0, Math.floor(next() * request.body.length));
        const reset = next() < 0.5;
        jobs.push(() => abortedRequest(edge, request.head, body, abort, reset));
      }
    }
    // A few at a time, in a shuffled order, as many visitors would.
    jobs.sort(() => next() - 0.5);
    const running = new Set<Promise<void>>();
    for (const job of jobs) {
      const done: Promise<void> = job().finally(() => running.delete(done));
      running.add(done);
      if (running.size >= 6) await Promise.race(running);
    }
    await Promise.all(running);

    await eventually('every file of the share closed', () => {
      collectGarbage();
      const open = openFilesUnder(root);
      if (open.length > 0) throw new Error(`still open: ${open.join(', ')}`);
      return true;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    // Sockets too: edge and agent run in this process, and both must let go of every visitor.
    await eventually('the process back to its file descriptors of before', () => {
      collectGarbage();
      const now = openFdCount();
      if (now > fdsBefore) throw new Error(`${now} open, ${fdsBefore} before`);
      return true;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    // The collector's closes warn from a later turn of the event loop.
    collectGarbage();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(leaks).toEqual([]);
    expect(fs.readdirSync(root).filter((name) => name.startsWith('.udns-upload-'))).toEqual([]);

    // And the share still answers in full.
    const zip = await downloadSha256(edge, 'handles', '/?zip');
    expect(zip.status).toBe(200);
    expect(zip.length).toBeGreaterThan(12 * MIB);
  });
});
