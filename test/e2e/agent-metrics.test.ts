import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startAgent, type Agent } from '../../agent/agent.js';
import { eventually } from '../helpers/eventually.js';
import { startHttpOrigin, startTcpEcho, type Origin } from '../helpers/origins.js';
import { expectCleanFailure, runCli, spawnCli } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { visit } from '../helpers/visitor.js';

/** One metric's value from exposition text, summed over the series matching `labels` (0 when absent). */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const series = line.slice(0, line.lastIndexOf(' '));
    if (Object.entries(labels).every(([key, wanted]) => series.includes(`${key}="${wanted}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** Sends `text` on a tcp route and reads until `length` bytes came back (an echo service). */
function echoThrough(port: number, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= text.length) socket.end();
    });
    socket.on('close', () => (received >= text.length ? resolve() : reject(new Error(`echo short: ${received} of ${text.length}`))));
    socket.on('error', reject);
    socket.write(text);
  });
}

describe('the agent\'s own /metrics (--metrics-listen) with the real edge', () => {
  let edge: TestEdge;
  let origin: Origin;
  let echo: Origin;
  let agent: Agent;
  let scrapeUrl: string;

  const scrape = async (): Promise<string> => {
    const res = await fetch(scrapeUrl);
    expect(res.status).toBe(200);
    return res.text();
  };

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startHttpOrigin();
    echo = await startTcpEcho();
    agent = await startAgent({
      serverUrl: edge.serverUrl, token: edge.adminToken, metricsListen: '127.0.0.1:0',
      routes: [{ kind: 'http', localPort: origin.port, name: 'metered' }, { kind: 'tcp', localPort: echo.port }],
    });
    scrapeUrl = `http://127.0.0.1:${agent.metricsListener!.port}/metrics`;
  }, 30_000);
  afterAll(async () => {
    agent?.stop();
    await origin?.close();
    await echo?.close();
    await edge?.close();
  });

  test('tunnel gauge, streams and bytes per route move with the visitors; 404 and 405 elsewhere', async () => {
    const before = await scrape();
    expect(value(before, 'udns_agent_tunnel_connected')).toBe(1);
    expect(value(before, 'udns_agent_tunnel_reconnects_total')).toBe(0);
    expect(before).toContain('process_cpu_user_seconds_total');
    const N = 5;
    const size = 20_000;
    for (let i = 0; i < N; i++) {
      const res = await visit(edge, 'metered', `/bytes/${size}`);
      expect(res.status).toBe(200);
      expect(res.body).toHaveLength(size);
    }
    const upload = await visit(edge, 'metered', '/upload', { method: 'POST', body: Buffer.alloc(7_000, 1) });
    expect(upload.status).toBe(200);
    const http = { route: 'metered', kind: 'http' };
    const after = await eventually('bytes counted as the origin connections close', async () => {
      const text = await scrape();
      expect(value(text, 'udns_agent_visitor_streams_open', http)).toBe(0);
      expect(value(text, 'udns_agent_route_bytes_total', { ...http, direction: 'out' }) - value(before, 'udns_agent_route_bytes_total', { ...http, direction: 'out' })).toBeGreaterThanOrEqual(N * size);
      expect(value(text, 'udns_agent_route_bytes_total', { ...http, direction: 'in' }) - value(before, 'udns_agent_route_bytes_total', { ...http, direction: 'in' })).toBeGreaterThanOrEqual(7_000);
      return text;
    });
    expect(value(after, 'udns_agent_visitor_streams_total', http) - value(before, 'udns_agent_visitor_streams_total', http)).toBe(N + 1);

    const tcpPort = agent.routes.find((route) => route.kind === 'tcp')!.port!;
    await echoThrough(tcpPort, 'x'.repeat(3_000));
    const tcp = { kind: 'tcp', route: `127.0.0.1:${echo.port}` };
    await eventually('the tcp stream and its bytes', async () => {
      const text = await scrape();
      expect(value(text, 'udns_agent_visitor_streams_total', tcp)).toBe(1);
      expect(value(text, 'udns_agent_route_bytes_total', { ...tcp, direction: 'in' })).toBe(3_000);
      expect(value(text, 'udns_agent_route_bytes_total', { ...tcp, direction: 'out' })).toBe(3_000);
      return true;
    });

    expect((await fetch(scrapeUrl.replace('/metrics', '/other'))).status).toBe(404);
    expect((await fetch(scrapeUrl, { method: 'POST' })).status).toBe(405);
  }, 20_000);

  test('the local service stopped: a visitor gets 502 and the origin errors move by one', async () => {
    const labels = { route: 'metered', kind: 'http', phase: 'connect' };
    const before = value(await scrape(), 'udns_agent_origin_errors_total', labels);
    await origin.close();
    expect((await visit(edge, 'metered', '/bytes/10')).status).toBe(502);
    expect(value(await scrape(), 'udns_agent_origin_errors_total', labels) - before).toBe(1);
  }, 20_000);

  test('udns up: metricsListen in the config file; the CLI prints where /metrics is', async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-agent-metrics-'));
    const config = path.join(work, 'agent.yml');
    fs.writeFileSync(config, `server: ${edge.serverUrl}\nmetricsListen: 127.0.0.1:0\ninspect: false\nroutes:\n  - http: ${echo.port}\n    name: upmetered\n`);
    const cli = spawnCli(['up', '--config', config], { UDNS_TOKEN: edge.adminToken });
    try {
      await cli.waitForOutput(/upmetered/);
      const url = await eventually('the metrics line on stderr', () => /metrics: (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(cli.stderr())?.[1]);
      const text = await (await fetch(url)).text();
      expect(value(text, 'udns_agent_tunnel_connected')).toBe(1);
    } finally {
      cli.child.kill('SIGTERM');
      await cli.exited;
      fs.rmSync(work, { recursive: true, force: true });
    }
  }, 20_000);

  test('bad --metrics-listen, or a taken port: one line, non-zero exit', async () => {
    const agentArgs = ['http', '3000', '--server', edge.serverUrl, '--inspect=false'];
    const env = { UDNS_TOKEN: edge.adminToken };
    expectCleanFailure(await runCli([...agentArgs, '--metrics-listen', 'nonsense'], env), /--metrics-listen.*must be host:port/);
    const taken = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => taken.once('listening', resolve));
    try {
      const port = (taken.address() as net.AddressInfo).port;
      expectCleanFailure(await runCli([...agentArgs, '--metrics-listen', `127.0.0.1:${port}`], env), /cannot listen for metrics on 127\.0\.0\.1:\d+: another program uses it; choose another --metrics-listen/);
    } finally {
      taken.close();
    }
  }, 20_000);

  test('the edge restarts: the tunnel gauge drops to 0, then is 1 again with one reconnect counted', async () => {
    const port = edge.edge.httpPort;
    const first = edge;
    await first.close();
    await eventually('the tunnel gauge at 0', async () => (value(await scrape(), 'udns_agent_tunnel_connected') === 0 ? true : undefined));
    edge = await startTestEdge({ dataDir: first.dataDir, httpPort: port });
    const text = await eventually('the tunnel back', async () => {
      const now = await scrape();
      return value(now, 'udns_agent_tunnel_connected') === 1 ? now : undefined;
    }, { timeoutMs: 15_000 });
    expect(value(text, 'udns_agent_tunnel_reconnects_total')).toBe(1);
  }, 20_000);
});
