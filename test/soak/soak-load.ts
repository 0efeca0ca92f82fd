import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { patternBytes } from '../helpers/origins.js';
import type { SeededRandom } from '../helpers/seeded-random.js';

/** Where the load goes: the edge's port and the names (and TCP port) the agents hold now. */
export interface LoadTargets {
  port: number;
  webHost: string;
  shareHost: string;
  apexHost: string;
  /** The tcp route's public port (it may move when its agent restarts). */
  tcpPort(): number;
  /** The share's `file.bin`. */
  shareFile: Buffer;
}

/** Visitor work of one kind. */
export type LoadKind =
  | 'keepalive-get' | 'fresh-get' | 'download' | 'upload' | 'websocket' | 'tcp-echo'
  | 'aborted' | 'share-file' | 'share-listing' | 'share-put' | 'apex';

/** Per-kind counts: done right, failed (a refusal or a break, as agent restarts cause), wrong (bad bytes presented as good). */
export type LoadTally = Record<LoadKind, { ok: number; failed: number; wrong: number }>;

const KINDS: readonly LoadKind[] = [
  'keepalive-get', 'fresh-get', 'download', 'upload', 'websocket', 'tcp-echo', 'aborted', 'share-file', 'share-listing', 'share-put', 'apex',
];

/** Each request's own bound: a soak visitor never waits forever (a hang counts as failed). */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Steady visitor load: `workers` loops, each taking the next kind in turn (so every kind keeps
 * running) with a short random pause between requests. Keep-alive requests share one agent
 * of a few sockets; the others open a connection each. Runs until `stop()`.
 */
export class VisitorLoad {
  readonly tally: LoadTally = Object.fromEntries(KINDS.map((kind) => [kind, { ok: 0, failed: 0, wrong: 0 }])) as LoadTally;
  /** A few examples of wrong answers, for the report. */
  readonly wrongExamples: string[] = [];
  private running = true;
  private readonly keepAlive = new http.Agent({ keepAlive: true, maxSockets: 4 });
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly targets: LoadTargets, private readonly random: SeededRandom, workers: number, private readonly maxPauseMs: number) {
    for (let worker = 0; worker < workers; worker++) this.loops.push(this.loop(worker));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.keepAlive.destroy();
  }

  get requests(): number {
    return Object.values(this.tally).reduce((sum, counts) => sum + counts.ok + counts.failed + counts.wrong, 0);
  }

  private async loop(worker: number): Promise<void> {
    for (let turn = worker; this.running; turn++) {
      const kind = KINDS[turn % KINDS.length]!;
      let verdict: 'ok' | 'failed' | 'wrong';
      try {
        verdict = await this.visit(kind, worker);
      } catch {
        verdict = 'failed';
      }
      this.tally[kind][verdict]++;
      await sleep(this.random.int(0, this.maxPauseMs));
    }
  }

  private wrong(what: string): 'wrong' {
    if (this.wrongExamples.length < 10) this.wrongExamples.push(what);
    return 'wrong';
  }

  private async visit(kind: LoadKind, worker: number): Promise<'ok' | 'failed' | 'wrong'> {
    const { targets, random } = this;
    switch (kind) {
      case 'keepalive-get':
      case 'fresh-get': {
        const got = await get(targets.port, targets.webHost, '/echo', kind === 'keepalive-get' ? this.keepAlive : false);
        if (got.status !== 200) return 'failed';
        return (JSON.parse(got.body.toString()) as { url: string }).url === '/echo' ? 'ok' : this.wrong(`${kind}: echo of another request`);
      }
      case 'download': {
        const size = random.int(1, 2 * 1024 * 1024);
        const got = await get(targets.port, targets.webHost, `/bytes/${size}`, false);
        if (got.status !== 200 || !got.complete) return 'failed';
        return got.body.equals(patternBytes(0, size)) ? 'ok' : this.wrong(`download of ${size}: ${got.body.length} bytes, not the pattern`);
      }
      case 'upload': {
        const body = random.bytes(random.int(0, 1024 * 1024));
        const got = await send(targets.port, targets.webHost, 'POST', '/upload', body);
        if (got.status !== 200 || !got.complete) return 'failed';
        return (JSON.parse(got.body.toString()) as { length: number }).length === body.length ? 'ok' : this.wrong(`upload of ${body.length}: the app saw another length`);
      }
      case 'websocket':
        return webSocketRound(targets, random);
      case 'tcp-echo':
        return tcpEcho(targets.tcpPort(), random.bytes(random.int(1, 64 * 1024)));
      case 'aborted':
        return abortedRequest(targets, random);
      case 'share-file': {
        const got = await get(targets.port, targets.shareHost, '/file.bin', false);
        if (got.status !== 200 || !got.complete) return 'failed';
        return got.body.equals(targets.shareFile) ? 'ok' : this.wrong(`share file: ${got.body.length} bytes, not the file`);
      }
      case 'share-listing': {
        const got = await get(targets.port, targets.shareHost, random.chance(0.2) ? '/folder/?zip' : '/?format=json', false);
        return got.status === 200 && got.complete ? 'ok' : 'failed';
      }
      case 'share-put': {
        // One name per worker, replaced each time: the upload folder stays small.
        const got = await send(targets.port, targets.shareHost, 'PUT', `/uploads/worker-${worker}.bin`, random.bytes(random.int(0, 256 * 1024)));
        return got.complete && (got.status === 201 || got.status === 204) ? 'ok' : 'failed';
      }
      case 'apex': {
        const paths = ['/', '/api/v1/me', '/nic/update', '/.well-known/acme-challenge/nothing'];
        const got = await get(targets.port, random.chance(0.5) ? targets.apexHost : `nobody-${worker}.localhost:${targets.port}`, random.pick(paths), false);
        return got.status !== undefined && got.status < 500 && got.complete ? 'ok' : 'failed';
      }
    }
  }
}

interface Got {
  status: number | undefined;
  body: Buffer;
  complete: boolean;
}

function get(port: number, host: string, path: string, agent: http.Agent | false): Promise<Got> {
  return send(port, host, 'GET', path, undefined, agent);
}

function send(port: number, host: string, method: string, path: string, body: Buffer | undefined, agent: http.Agent | false = false): Promise<Got> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let status: number | undefined;
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: { host, ...(body ? { 'content-length': String(body.length) } : {}) } }, (res) => {
      status = res.statusCode;
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status, body: Buffer.concat(chunks), complete: res.complete }));
      res.on('error', () => {});
      res.on('close', () => resolve({ status, body: Buffer.concat(chunks), complete: false }));
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error('timed out')));
    req.on('error', () => resolve({ status, body: Buffer.concat(chunks), complete: false }));
    req.end(body);
  });
}

/** A WebSocket with a few echoes, closed cleanly. */
function webSocketRound(targets: LoadTargets, random: SeededRandom): Promise<'ok' | 'failed' | 'wrong'> {
  return new Promise((resolve) => {
    const messages = random.int(1, 10);
    let echoed = 0;
    let sent: Buffer | null = null;
    let verdict: 'ok' | 'failed' | 'wrong' = 'failed';
    const ws = new WebSocket(`ws://127.0.0.1:${targets.port}/ws`, { headers: { host: targets.webHost } });
    const timer = setTimeout(() => ws.terminate(), REQUEST_TIMEOUT_MS);
    const next = (): void => {
      if (echoed === messages) {
        verdict = 'ok';
        ws.close(1000);
        return;
      }
      sent = random.bytes(random.int(1, 32 * 1024));
      ws.send(sent);
    };
    ws.on('open', next);
    ws.on('message', (data: Buffer) => {
      if (!sent || !data.equals(sent)) {
        verdict = 'wrong';
        ws.terminate();
        return;
      }
      echoed++;
      next();
    });
    ws.on('unexpected-response', (req, res) => {
      res.resume();
      req.destroy();
      clearTimeout(timer);
      resolve('failed');
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      clearTimeout(timer);
      resolve(verdict);
    });
  });
}

/** Bytes to the tcp route's echo and back, then a clean close. */
function tcpEcho(port: number, data: Buffer): Promise<'ok' | 'failed' | 'wrong'> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
    socket.on('connect', () => socket.end(data));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      const got = Buffer.concat(chunks);
      if (got.length < data.length) resolve('failed');
      else resolve(got.equals(data) ? 'ok' : 'wrong');
    });
  });
}

/**
 * A visitor that gives up: half the time mid-download (after the first bytes), half the time
 * mid-upload (a Content-Length body cut short), both with a reset.
 */
function abortedRequest(targets: LoadTargets, random: SeededRandom): Promise<'ok' | 'failed' | 'wrong'> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: targets.port });
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => {});
    socket.on('close', () => resolve('ok'));
    const upload = random.chance(0.5);
    socket.on('connect', () => {
      if (upload) {
        socket.write(`POST /upload HTTP/1.1\r\nHost: ${targets.webHost}\r\nContent-Length: 1000000\r\n\r\n`);
        socket.write(random.bytes(random.int(1, 200_000)), () => setTimeout(() => socket.resetAndDestroy(), random.int(0, 50)));
      } else {
        socket.write(`GET /bytes/8000000 HTTP/1.1\r\nHost: ${targets.webHost}\r\n\r\n`);
        socket.once('data', () => socket.resetAndDestroy());
      }
    });
  });
}
