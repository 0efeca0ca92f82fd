import dgram from 'node:dgram';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { makeTestCertificates } from '../helpers/test-certificates.js';
import { expectCleanFailure, runCli, spawnCli, type CliProcess } from '../helpers/test-agent.js';

/*
 * Issue 9, the first five minutes: #3, a second `npm start` ended with `udns: unexpected error:
 * listen EADDRINUSE …` and no hint of the flag to change; #9, with its output piped into
 * `head`, the edge did not exit on SIGTERM.
 */

const running: CliProcess[] = [];
const holders: Array<net.Server | dgram.Socket> = [];
afterEach(async () => {
  for (const cli of running.splice(0)) {
    if (cli.child.exitCode === null && cli.child.signalCode === null) {
      cli.child.kill('SIGKILL');
      await cli.exited;
    }
  }
  for (const holder of holders.splice(0)) await new Promise<void>((resolve) => holder.close(() => resolve()));
});

function freshDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A TCP port some other program holds. */
async function takenTcpPort(): Promise<number> {
  const holder = net.createServer().listen(0, '127.0.0.1');
  holders.push(holder);
  await once(holder, 'listening');
  return (holder.address() as net.AddressInfo).port;
}

/** A UDP port some other program holds (avahi on 5353, say). */
async function takenUdpPort(): Promise<number> {
  const holder = dgram.createSocket('udp4');
  holders.push(holder);
  holder.bind(0, '127.0.0.1');
  await once(holder, 'listening');
  return holder.address().port;
}

function serverArgs(dataDir: string, ports: { http?: number; https?: number; dns?: number } = {}): string[] {
  return [
    'server', '--bind', '127.0.0.1', '--tcp-ports', '31000-31999', '--data-dir', dataDir,
    '--http-port', String(ports.http ?? 0), '--dns-port', String(ports.dns ?? 0),
  ];
}

describe('a listener that cannot bind', () => {
  test('a taken HTTP port is one line naming the port, --http-port and UDNS_HTTP_PORT', async () => {
    const port = await takenTcpPort();
    const result = await runCli(serverArgs(freshDir('udns-bind-http-'), { http: port }));
    expectCleanFailure(result, new RegExp(`^udns: cannot listen for HTTP on 127\\.0\\.0\\.1 port ${port}: another program uses it .*--http-port <port> or UDNS_HTTP_PORT$`), 1);
  });

  test('a taken DNS port is one line naming --dns-port and UDNS_DNS_PORT', async () => {
    const port = await takenUdpPort();
    const result = await runCli(serverArgs(freshDir('udns-bind-dns-'), { dns: port }));
    expectCleanFailure(result, new RegExp(`^udns: cannot listen for DNS on 127\\.0\\.0\\.1 port ${port}: another program uses it .*--dns-port <port> or UDNS_DNS_PORT$`), 1);
  });

  test('a taken HTTPS port is one line naming --https-port and UDNS_HTTPS_PORT', async () => {
    const port = await takenTcpPort();
    const certs = makeTestCertificates();
    const result = await runCli([
      ...serverArgs(freshDir('udns-bind-https-')), '--domain', 'edge.test',
      '--https-port', String(port), '--tls-cert', certs.certFile, '--tls-key', certs.keyFile,
    ]);
    expectCleanFailure(result, new RegExp(`^udns: cannot listen for HTTPS on 127\\.0\\.0\\.1 port ${port}: .*--https-port <port> or UDNS_HTTPS_PORT$`), 1);
  });

  test('a --bind address the machine does not have names --bind', async () => {
    const result = await runCli(['server', '--bind', '192.0.2.1', '--http-port', '0', '--dns-port', '0', '--data-dir', freshDir('udns-bind-addr-')]);
    expectCleanFailure(result, /^udns: cannot listen for HTTP on 192\.0\.2\.1 port 0: 192\.0\.2\.1 is not an address of this machine; change --bind or UDNS_BIND$/, 1);
  });
});

describe('an edge whose output reader went away', () => {
  /** Starts the edge with stdout and stderr on pipes, as in `udns server 2>&1 | head -1`. */
  async function startAndCloseOutput(): Promise<CliProcess> {
    const edge = spawnCli([...serverArgs(freshDir('udns-pipe-')), '--log-level', 'info']);
    running.push(edge);
    await edge.waitForOutput(/ dns +127\.0\.0\.1 port \d+/, 30_000);
    // The reader exits like `head -1`: every later write to either stream is EPIPE.
    edge.child.stdout!.destroy();
    edge.child.stderr!.destroy();
    return edge;
  }

  test('exits on SIGTERM (the exit-time log flush retried EPIPE forever)', async () => {
    const edge = await startAndCloseOutput();
    edge.child.kill('SIGTERM');
    // Without the fix the process sleeps in the flush until the test times out.
    expect(await edge.exited).toEqual({ code: 0, signal: null });
  });

  test('keeps serving after its output reader left, then exits on SIGINT', async () => {
    const edge = await startAndCloseOutput();
    const port = Number(/ http +port (\d+)/.exec(edge.stdout())![1]);
    // Requests log nothing at info, but the edge must still answer one after the pipe broke.
    const answer = await fetch(`http://127.0.0.1:${port}/healthz`, { headers: { host: 'localhost' } });
    expect(await answer.text()).toBe('ok\n');
    edge.child.kill('SIGINT');
    expect(await edge.exited).toEqual({ code: 0, signal: null });
  });
});
