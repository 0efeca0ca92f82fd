import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, test } from 'vitest';
import { startAgent, type Agent } from '../../agent/agent.js';
import { startEdgeProcess, type EdgeProcess } from '../helpers/edge-process.js';
import { eventually } from '../helpers/eventually.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { PACKAGE_ROOT } from '../helpers/test-agent.js';

/*
 * The access log of a real `udns server` process (issue 13): `--access-log -` shares stderr with
 * the edge's own log lines, and `--access-log FILE` follows logrotate's rename and SIGHUP.
 */

interface AccessLine { kind: string; name?: string; path?: string | null; status?: number | null; refused?: string }

/** One request on a connection of its own; resolves with everything read until the edge closes it. */
function request(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    socket.on('data', (chunk: Buffer) => { out += chunk.toString('latin1'); });
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer to ${text.slice(0, 60)}`)));
    socket.write(text);
  });
}

/** Lines of `text` that are not JSON, shortened for a readable failure. */
function brokenLines(text: string): string[] {
  return text.split('\n').filter((line) => {
    if (line === '') return false;
    try {
      JSON.parse(line);
      return false;
    } catch {
      return true;
    }
  }).map((line) => `${line.slice(0, 80)}…${line.slice(-80)}`);
}

/** Runs `count` jobs, `width` at a time. */
async function inParallel(count: number, width: number, job: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await job(next++);
  }));
}

const started: Array<{ edge?: EdgeProcess; agent?: Agent; origin?: Origin; work?: string }> = [];
afterEach(async () => {
  for (const run of started.splice(0)) {
    run.agent?.stop();
    await run.origin?.close();
    await run.edge?.stop();
    if (run.work !== undefined) fs.rmSync(run.work, { recursive: true, force: true });
  }
});

/** An edge process with `args`, an agent in this process serving the name `site` from a local origin. */
async function edgeWithSite(args: string[]): Promise<{ edge: EdgeProcess; get(target: string): Promise<string> }> {
  const run: (typeof started)[number] = {};
  started.push(run);
  run.edge = await startEdgeProcess(args);
  run.origin = await startHttpOrigin();
  run.agent = await startAgent({ serverUrl: run.edge.serverUrl, token: run.edge.adminToken, routes: [{ kind: 'http', localPort: run.origin.port, name: 'site' }] });
  const edge = run.edge;
  const host = `site.localhost:${edge.httpPort}`;
  return {
    edge,
    async get(target) {
      const answer = await request(edge.httpPort, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(answer).toMatch(/^HTTP\/1\.1 404 /);
      return answer;
    },
  };
}

describe('the access log of a real edge process', () => {
  test('--access-log -: whole JSON lines on stderr among the edge\'s own, also after stderr was not read for a while', async () => {
    const { edge, get } = await edgeWithSite(['--access-log', '-', '--log-level', 'debug']);
    const stderrLines = (): string[] => edge.cli.stderr().split('\n').filter((line) => line !== '');
    const accessLines = (): AccessLine[] => stderrLines().map((line) => JSON.parse(line) as AccessLine & { level?: number }).filter((line) => line.level === undefined && line.kind !== undefined);

    await get('/first?token=not-for-the-log');
    const first = await eventually('the first access line on stderr', () => accessLines().find((line) => line.path === '/first'));
    expect(first).toMatchObject({ kind: 'http', name: 'site', status: 404 });
    expect(edge.cli.stderr()).not.toContain('not-for-the-log');
    expect(edge.cli.stdout()).not.toContain('"kind":"http"');

    // Whoever reads the edge's stderr (journald, a pipe into a shipper) falls behind: the pipe
    // fills again and again while access lines and log lines (a debug line for each bad body)
    // keep coming. Each must still come out whole.
    const stderr = edge.cli.child.stderr!;
    let lagging = true;
    const lag = (): void => {
      stderr.pause();
      setTimeout(() => { if (lagging) stderr.resume(); }, 20);
    };
    stderr.on('data', lag);
    stderr.pause();
    const count = 100;
    const pad = 'p'.repeat(1500);
    await inParallel(count, 6, async (index) => {
      await get(`/many/${index}/${pad}`);
      // A body the edge's own app cannot read: a debug line each.
      await request(edge.httpPort, `POST /bad/${index} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer udns_not-a-real-token\r\nX-Pad: ${pad}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`);
    });
    lagging = false;
    stderr.off('data', lag);
    stderr.resume();
    await eventually(`${count} access lines on stderr`, () => {
      const seen = edge.cli.stderr().match(/"path":"\/many\/\d+\//g)?.length ?? 0;
      return seen === count ? true : undefined;
    });
    await eventually('the debug lines of the bad bodies', () => ((edge.cli.stderr().match(/bad request from client/g)?.length ?? 0) >= count ? true : undefined));
    expect(brokenLines(edge.cli.stderr())).toEqual([]);
    // Regression: that debug line held node:http's rawPacket, the visitor's bytes (the token too) as numbers.
    expect(edge.cli.stderr()).not.toContain('rawPacket');
    expect(edge.cli.stderr()).toContain('"code":"HPE_INVALID_CHUNK_SIZE"');
    const paths = accessLines().filter((line) => line.path?.startsWith('/many/')).map((line) => Number(line.path!.split('/')[2]));
    expect(paths.sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, index) => index));
  }, 30_000);

  test('the edge\'s log and `-` share one writer: big lines from both never cut into each other on a pipe read slowly', async () => {
    // The edge's own wiring (logger, its stderr destination handed to the access log), driven
    // hard: with two writers on one pipe, a line the pipe took only in part let the other's bytes in.
    const dist = (file: string): string => JSON.stringify(path.join(PACKAGE_ROOT, 'dist', file));
    const script = `
      import { createLogger } from ${dist('server/logger.js')};
      import { AccessLog } from ${dist('server/access-log/access-log.js')};
      import { stderrLogStream } from ${dist('server/metrics/edge-observability.js')};
      const logger = createLogger('info', 'udns-edge');
      const log = new AccessLog({ file: '-', maxBytes: 0, keep: 0, stderr: stderrLogStream(logger) });
      const pad = 'x'.repeat(3000);
      let n = 0;
      const tick = () => {
        for (let i = 0; i < 20; i++, n++) {
          logger.info({ pad, n }, 'log line');
          for (let j = 0; j < 3; j++) log.write(JSON.stringify({ kind: 'http', n, j, pad }));
        }
        if (n < 1000) setImmediate(tick);
        else void log.close();
      };
      tick();`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let text = '';
    // A reader that keeps falling behind: the pipe is full again and again.
    child.stderr.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      child.stderr.pause();
      setTimeout(() => child.stderr.resume(), 2);
    });
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code).toBe(0);
    expect(brokenLines(text)).toEqual([]);
    expect(text.match(/"msg":"log line"/g)).toHaveLength(1000);
    expect(text.match(/^\{"kind":"http"/gm)).toHaveLength(3000);
  }, 30_000);

  test('logrotate moves FILE and sends SIGHUP: earlier lines stay in FILE.1, later ones go to a new FILE, none lost or repeated', async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-access-rotate-'));
    started.push({ work });
    const file = path.join(work, 'access.log');
    const { edge, get } = await edgeWithSite(['--access-log', file, '--log-level', 'info']);
    const read = (name: string): AccessLine[] => (fs.existsSync(name) ? fs.readFileSync(name, 'utf8') : '').split('\n').filter(Boolean).map((line) => JSON.parse(line) as AccessLine);
    const ids = (lines: AccessLine[], phase: string): number[] => lines.filter((line) => line.path?.startsWith(`/${phase}/`)).map((line) => Number(line.path!.split('/')[2])).sort((a, b) => a - b);
    const range = (count: number): number[] => Array.from({ length: count }, (_, index) => index);

    await inParallel(20, 4, async (index) => { await get(`/before/${index}`); });
    await eventually('20 lines in the file', () => (read(file).length === 20 ? true : undefined));

    // What logrotate does: rename, then SIGHUP, with visitors coming all along.
    fs.renameSync(file, `${file}.1`);
    let during = 0;
    let stop = false;
    const traffic = (async () => {
      while (!stop) await get(`/during/${during++}`);
    })();
    await eventually('a few requests after the rename', () => (during >= 5 ? true : undefined));
    edge.cli.child.kill('SIGHUP');
    await eventually('the SIGHUP handled (the settings reload says so)', () => (/config reloaded/.test(edge.cli.stderr()) ? true : undefined));
    await inParallel(20, 4, async (index) => { await get(`/after/${index}`); });
    stop = true;
    await traffic;

    await eventually('every line written', () => (read(file).length + read(`${file}.1`).length === 40 + during ? true : undefined));
    const rotated = read(`${file}.1`);
    const fresh = read(file);
    expect(ids(rotated, 'before')).toEqual(range(20));
    expect(ids(fresh, 'before')).toEqual([]);
    expect(ids(fresh, 'after')).toEqual(range(20));
    expect(ids(rotated, 'after')).toEqual([]);
    // Requests around the SIGHUP land in one file or the other, each once.
    expect([...ids(rotated, 'during'), ...ids(fresh, 'during')].sort((a, b) => a - b)).toEqual(range(during));
    expect(edge.alive()).toBe(true);
  }, 30_000);
});
