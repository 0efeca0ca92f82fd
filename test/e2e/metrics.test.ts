import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { dig } from '../helpers/edge-client.js';
import { eventually } from '../helpers/eventually.js';
import { startHttpOrigin, startTcpEcho, type Origin } from '../helpers/origins.js';
import { expectCleanFailure, runCli, startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { hostFor, visit } from '../helpers/visitor.js';

interface LogLine {
  kind: string; name: string; client: string; method?: string | null; path?: string | null; status?: number | null;
  bytesIn: number; bytesOut: number; durationMs: number; port?: number; time: string;
}

/** One metric's value from exposition text (0 when the series is absent). */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const series = line.slice(0, line.lastIndexOf(' '));
    if (Object.entries(labels).every(([key, wanted]) => series.includes(`${key}="${wanted}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/**
 * Writes `requests` on one connection (all at once: pipelined) and reads until `responses`
 * answers' bytes came, counted by the caller's predicate; returns every byte received.
 */
function rawExchange(port: number, payload: string, done: (received: string) => boolean): Promise<{ received: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (done(received)) resolve({ received, socket });
    });
    socket.on('error', reject);
    socket.setTimeout(10_000, () => reject(new Error(`no whole answer after 10 s; received ${JSON.stringify(received.slice(0, 600))}`)));
    socket.write(payload);
  });
}

const closeSocket = (socket: net.Socket): Promise<void> => new Promise((resolve) => {
  socket.once('close', () => resolve());
  socket.end();
});

describe('edge metrics and access log with a real tunnel', () => {
  let edge: TestEdge;
  let origin: Origin;
  let echo: Origin;
  let agent: Agent;
  let work: string;
  let logFile: string;
  let memberToken: string;
  let scrapeUrl: string;

  const scrape = async (): Promise<string> => {
    const res = await fetch(scrapeUrl);
    expect(res.status).toBe(200);
    return res.text();
  };
  const logLines = (): LogLine[] => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '').split('\n').filter(Boolean).map((line) => JSON.parse(line) as LogLine);

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-metrics-e2e-'));
    logFile = path.join(work, 'access.log');
    edge = await startTestEdge({ metricsListen: '127.0.0.1:0', accessLog: logFile, metricsMaxNames: 2 });
    scrapeUrl = `http://127.0.0.1:${edge.edge.metricsPort}/metrics`;
    memberToken = await edge.createAccount('member');
    origin = await startHttpOrigin();
    echo = await startTcpEcho();
    agent = await startTestAgent(edge, [
      { kind: 'http', localPort: origin.port, name: 'site' },
      { kind: 'http', localPort: origin.port, name: 'second' },
      { kind: 'http', localPort: origin.port, name: 'third' },
      { kind: 'tcp', localPort: echo.port },
    ]);
  }, 60_000);
  afterAll(async () => {
    agent?.stop();
    await origin?.close();
    await echo?.close();
    await edge?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('keep-alive and pipelined requests: one log line each with the right status and bytes; counters move by exactly that', async () => {
    const before = await scrape();
    const host = hostFor(edge, 'site');
    const requests = [
      `GET /bytes/1000?secret=1 HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
      `HEAD /bytes/2000 HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
      `GET /missing HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
      `POST /upload HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 11\r\n\r\nhello world`,
    ];
    // Keep-alive: the first request alone, then the other three pipelined in one write.
    const first = await rawExchange(edge.edge.httpPort, requests[0]!, (text) => text.length >= 1000 && text.includes('\r\n\r\n') && text.length - text.indexOf('\r\n\r\n') - 4 >= 1000);
    let received = first.received;

    const rest = await new Promise<string>((resolve) => {
      let more = '';
      first.socket.on('timeout', () => resolve(`TIMEOUT ${JSON.stringify(more.slice(0, 1500))}`));
      first.socket.on('data', (chunk: Buffer) => {
        more += chunk.toString('latin1');
        if (/"sha256":"[0-9a-f]{64}"\}\r\n0\r\n\r\n$/.test(more)) resolve(more);
      });
      first.socket.write(requests.slice(1).join(''));
    });
    received += rest;
    await closeSocket(first.socket);

    const sent = requests.join('');

    const lines = await eventually('four access log lines for site', () => {
      const http = logLines().filter((line) => line.kind === 'http' && line.name === 'site');
      expect(http).toHaveLength(4);
      return http;
    });
    expect(lines.map((line) => [line.method, line.path, line.status])).toEqual([
      ['GET', '/bytes/1000', 200], ['HEAD', '/bytes/2000', 200], ['GET', '/missing', 404], ['POST', '/upload', 200],
    ]);
    expect(lines.map((line) => line.bytesIn)).toEqual(requests.map((request) => request.length));
    expect(lines.reduce((sum, line) => sum + line.bytesOut, 0)).toBe(received.length);
    expect(lines[0]!.bytesOut).toBeGreaterThan(1000);
    for (const line of lines) {
      expect(line.client).toBe('127.0.0.0/24');
      expect(line.durationMs).toBeGreaterThanOrEqual(0);
      expect(Number.isNaN(Date.parse(line.time))).toBe(false);
    }
    expect(fs.readFileSync(logFile, 'utf8')).not.toContain('secret');

    const after = await eventually('the connection counted as closed', async () => {
      const text = await scrape();
      expect(value(text, 'udns_visitor_streams_open', { kind: 'http' })).toBe(value(before, 'udns_visitor_streams_open', { kind: 'http' }));
      return text;
    });
    const delta = (name: string, labels: Record<string, string> = {}): number => value(after, name, labels) - value(before, name, labels);
    expect(delta('udns_name_bytes_total', { name: 'site', direction: 'in' })).toBe(sent.length);
    expect(delta('udns_name_bytes_total', { name: 'site', direction: 'out' })).toBe(received.length);
    expect(delta('udns_account_bytes_total', { account: 'admin', direction: 'out' })).toBe(received.length);
    expect(delta('udns_visitor_streams_total', { kind: 'http' })).toBe(1);
    expect(delta('udns_connections_total', { listener: 'http' })).toBeGreaterThanOrEqual(1);
    expect(delta('udns_http_request_duration_seconds_count', { code: '2xx' })).toBe(3);
    expect(delta('udns_http_request_duration_seconds_count', { code: '4xx' })).toBe(1);
    expect(value(after, 'udns_agents_online')).toBe(1);
    expect(value(after, 'udns_tunnels_online')).toBe(4);
  });

  test('a TCP connection is one log line with its bytes and port', async () => {
    const port = agent.routes.find((route) => route.kind === 'tcp')!.port!;
    const { socket } = await rawExchange(port, 'hello tcp', (text) => text === 'hello tcp');
    await closeSocket(socket);
    const line = await eventually('the tcp access log line', () => {
      const tcp = logLines().filter((entry) => entry.kind === 'tcp');
      expect(tcp).toHaveLength(1);
      return tcp[0]!;
    });
    expect(line).toMatchObject({ kind: 'tcp', port, client: '127.0.0.0/24', bytesIn: 9, bytesOut: 9 });
    const text = await scrape();
    expect(value(text, 'udns_visitor_streams_total', { kind: 'tcp' })).toBe(1);
  });

  test('names past --metrics-max-names count under "other", and the sums stay whole', async () => {
    for (const name of ['second', 'third']) {
      const res = await visit(edge, name, '/bytes/100');
      expect(res.status).toBe(200);
    }
    const text = await eventually('bytes of names past the budget under "other"', async () => {
      const scraped = await scrape();
      expect(value(scraped, 'udns_name_bytes_total', { name: 'other', direction: 'out' })).toBeGreaterThan(100);
      return scraped;
    });
    const names = new Set([...text.matchAll(/^udns_name_bytes_total\{name="([^"]+)"/gm)].map((match) => match[1]));
    expect(names.size).toBeLessThanOrEqual(3);
    expect(names.has('other')).toBe(true);
    expect(value(text, 'udns_name_bytes_total', { direction: 'out' })).toBe(value(text, 'udns_account_bytes_total', { direction: 'out' }));
  });

  test('DNS queries are counted by type and rcode, answer cache hits included', async () => {
    const before = await scrape();
    for (let i = 0; i < 2; i++) expect((await dig(edge, 'site.localhost', 'A')).status).toBe('NOERROR');
    expect((await dig(edge, 'nobody-here.localhost', 'AAAA')).status).toBe('NXDOMAIN');
    const after = await scrape();
    const delta = (labels: Record<string, string>): number => value(after, 'udns_dns_queries_total', labels) - value(before, 'udns_dns_queries_total', labels);
    expect(delta({ transport: 'udp', type: 'A', rcode: 'NOERROR' })).toBe(2);
    expect(delta({ transport: 'udp', type: 'AAAA', rcode: 'NXDOMAIN' })).toBe(1);
  });

  test('the apex /metrics: 401 without a token, 403 with a member\'s, the text with the operator\'s', async () => {
    const apex = `http://127.0.0.1:${edge.edge.httpPort}/metrics`;
    expect((await fetch(apex)).status).toBe(401);
    expect((await fetch(apex, { headers: { authorization: 'Bearer not-a-token' } })).status).toBe(401);
    expect((await fetch(apex, { headers: { authorization: `Bearer ${memberToken}` } })).status).toBe(403);
    const res = await fetch(apex, { headers: { authorization: `Bearer ${edge.adminToken}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('udns_agents_online 1');
    expect(text).not.toContain(edge.adminToken);
    // A member's own site keeps its /metrics path.
    expect((await visit(edge, 'site', '/metrics')).body).toBe('origin: not found');
  });

  test('bad flags: one line, non-zero exit', async () => {
    const dataDir = path.join(work, 'cli-edge');
    expectCleanFailure(await runCli(['server', '--data-dir', dataDir, '--http-port', '0', '--dns-port', '0', '--metrics-listen', 'nonsense']), /--metrics-listen: must be host:port/);
    expectCleanFailure(await runCli(['server', '--data-dir', dataDir, '--http-port', '0', '--dns-port', '0', '--access-log', path.join(work, 'no-such-dir', 'a.log')]), /--access-log: cannot open .*no-such-dir.*ENOENT/);
    // A taken metrics port: the edge does not start, and says which setting to change.
    const taken = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => taken.once('listening', resolve));
    try {
      const port = (taken.address() as net.AddressInfo).port;
      await expect(startTestEdge({ metricsListen: `127.0.0.1:${port}` })).rejects.toThrow(/cannot listen for metrics on 127\.0\.0\.1:\d+: another program uses it; choose another --metrics-listen/);
    } finally {
      taken.close();
    }
  }, 60_000);
});
