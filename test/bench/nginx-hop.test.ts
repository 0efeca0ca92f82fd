import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { measureUpload } from '../../bench/download.js';
import { startNginxHop } from '../../bench/nginx-hop.js';
import { childPids } from '../../bench/proc-stats.js';
import { ProcessGroup } from '../../bench/processes.js';

/** An origin that answers each request's X-Forwarded-* headers and counts connections and upload bytes. */
async function startRecordingOrigin(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const server = http.createServer((req, res) => {
    let received = 0;
    req.on('data', (chunk: Buffer) => { received += chunk.length; });
    req.on('error', () => {});
    req.on('end', () => {
      const body = req.method === 'POST' ? `${received}\n` : JSON.stringify({ for: req.headers['x-forwarded-for'], proto: req.headers['x-forwarded-proto'], host: req.headers.host });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(body);
    });
  });
  server.on('connection', () => { connections += 1; });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

function get(agent: http.Agent, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent, headers: { host: 'bench.example' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
}

describe('bench nginx hop', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('forwards with X-Forwarded-* on every request of a kept-alive connection, reuses upstream connections, streams a large upload, and leaves no process behind', async () => {
    const origin = await startRecordingOrigin();
    cleanups.push(() => origin.close());
    const group = new ProcessGroup();
    cleanups.push(() => group.stopAll(2000));
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-nginx-hop-'));
    cleanups.push(() => fs.rmSync(workDir, { recursive: true, force: true }));

    const hop = await startNginxHop(group, { originPort: origin.port, workDir, workers: 1 });
    expect(hop.version).toMatch(/nginx/);
    const [nginx] = group.live();

    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    const answers = [];
    for (let i = 0; i < 20; i++) answers.push(JSON.parse(await get(agent, hop.port)) as Record<string, string>);
    for (const answer of answers) expect(answer).toEqual({ for: '127.0.0.1', proto: 'http', host: 'bench.example' });
    // Kept-alive upstream: one worker, one client at a time, so one origin connection for all.
    expect(origin.connections()).toBe(1);
    const workers = childPids(nginx!.pid!);
    expect(hop.workerCount()).toBe(1);
    expect(workers).toHaveLength(1);

    // Far above nginx's default 1 MiB body limit, and never spooled to a temp file.
    const upload = await measureUpload({ port: hop.port }, '/upload', 32 * 1024 * 1024, 30_000);
    expect(upload).toMatchObject({ ok: true, status: 200, bytes: 32 * 1024 * 1024 });
    const [nginxDir] = fs.readdirSync(workDir);
    expect(fs.readdirSync(path.join(workDir, nginxDir!, 'client-body'))).toEqual([]);

    await hop.stop();
    expect(group.live()).toEqual([]);
    for (const pid of workers) expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
  });
});
