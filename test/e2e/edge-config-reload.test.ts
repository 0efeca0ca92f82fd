import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startAgent, type Agent } from '../../agent/agent.js';
import { startEdgeProcess, type EdgeProcess } from '../helpers/edge-process.js';
import { eventually } from '../helpers/eventually.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/test-certificates.js';
import { runCli } from '../helpers/test-agent.js';

const DOMAIN = 'edge.test';

/** The fingerprint of the certificate the edge's TLS listener presents right now. */
async function servedFingerprint(port: number): Promise<string> {
  const socket = tls.connect({ port, host: '127.0.0.1', servername: DOMAIN, rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  const fingerprint = socket.getPeerX509Certificate()!.fingerprint256;
  socket.destroy();
  return fingerprint;
}

/** Sends one plain-HTTP request to `name` and resolves with the first answer's head (or '' if none). */
async function ask(port: number, name: string, target: string): Promise<{ socket: net.Socket; reply: Promise<string> }> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  await once(socket, 'connect');
  const reply = new Promise<string>((resolve) => {
    let out = '';
    socket.on('data', (chunk) => { out += chunk; if (out.includes('\r\n\r\n')) resolve(out); });
    socket.on('close', () => resolve(out));
  });
  socket.write(`GET ${target} HTTP/1.1\r\nHost: ${name}.${DOMAIN}\r\n\r\n`);
  return { socket, reply };
}

describe('udns server --config edge.yml', () => {
  test('--check reports every problem of the file at once and exits non-zero; a good file is "ok"', async () => {
    const certificates = makeTestCertificates(DOMAIN);
    const bad = path.join(certificates.dir, 'bad.yml');
    fs.writeFileSync(bad, 'htpPort: 80\nhttps-port: 8443\npublicIp: "::1"\nmaxVisitorsPerNetwork: 0\n');
    const failed = await runCli(['server', '--config', bad, '--check']);
    expect(failed.code).not.toBe(0);
    for (const problem of ['did you mean "httpPort"', 'did you mean "httpsPort"', `${bad}: publicIp`, `${bad}: maxVisitorsPerNetwork`]) expect(failed.stderr).toContain(problem);
    const good = path.join(certificates.dir, 'good.yml');
    fs.writeFileSync(good, `domain: ${DOMAIN}\nhttpsPort: 8443\ntlsCert: edge.pem\ntlsKey: edge.key\n`);
    const passed = await runCli(['server', '--config', good, '--check']);
    expect(passed).toMatchObject({ code: 0, stdout: `${good}: ok\n` });
  });

  describe('SIGHUP', () => {
    let certificates: TestCertificates;
    let edge: EdgeProcess;
    let origin: Origin;
    let agent: Agent;
    let configFile: string;
    const writeConfig = (limit: number, extra = ''): void => {
      // Relative certificate paths: relative to this file, not to the edge's working directory.
      fs.writeFileSync(configFile, `domain: ${DOMAIN}\nhttpsPort: 0\ntlsCert: live.pem\ntlsKey: live.key\nmaxVisitorsPerNetwork: ${limit}\n${extra}`);
    };

    beforeAll(async () => {
      certificates = makeTestCertificates(DOMAIN);
      fs.copyFileSync(certificates.certFile, path.join(certificates.dir, 'live.pem'));
      fs.copyFileSync(certificates.keyFile, path.join(certificates.dir, 'live.key'));
      configFile = path.join(certificates.dir, 'edge.yml');
      writeConfig(1);
      edge = await startEdgeProcess(['--config', configFile]);
      origin = await startHttpOrigin();
      agent = await startAgent({
        serverUrl: `https://127.0.0.1:${edge.httpsPort}`, token: edge.adminToken, ca: certificates.ca,
        routes: [{ kind: 'http', localPort: origin.port, name: 'busy' }],
      });
    });
    afterAll(async () => {
      agent?.stop();
      await origin?.close();
      await edge?.stop();
    });

    test('a renewed certificate file and a raised visitor limit apply without a restart; a changed domain is named as needing one', async () => {
      const held: net.Socket[] = [];
      try {
        expect(await servedFingerprint(edge.httpsPort!)).toBe(new X509Certificate(fs.readFileSync(certificates.certFile)).fingerprint256);
        // Limit 1 per network: one request awaiting its answer fills it.
        const first = await ask(edge.httpPort, 'busy', '/hang');
        held.push(first.socket);
        await eventually('the second request from the same network refused', async () => {
          const second = await ask(edge.httpPort, 'busy', '/echo');
          held.push(second.socket);
          expect(await second.reply).toMatch(/^HTTP\/1\.1 503/);
          return true;
        });

        // Renewal keeps the path: the new certificate replaces the file's content.
        fs.copyFileSync(certificates.strangerCertFile, path.join(certificates.dir, 'live.pem'));
        fs.copyFileSync(certificates.strangerKeyFile, path.join(certificates.dir, 'live.key'));
        writeConfig(3, 'publicIp: 192.0.2.7\n');
        edge.cli.child.kill('SIGHUP');

        const stranger = new X509Certificate(fs.readFileSync(certificates.strangerCertFile)).fingerprint256;
        await eventually('the new certificate served', async () => (await servedFingerprint(edge.httpsPort!)) === stranger || undefined);
        const third = await ask(edge.httpPort, 'busy', '/echo');
        held.push(third.socket);
        expect(await third.reply).toMatch(/^HTTP\/1\.1 200/);
        await eventually('the restart-only key named', () => /only applied after a restart: publicIp/.exec(edge.cli.stderr()) ?? undefined);
        expect(edge.alive()).toBe(true);
      } finally {
        for (const socket of held) socket.destroy();
      }
    });

    test('an invalid edit is one error line and the edge keeps its running config', async () => {
      const before = await servedFingerprint(edge.httpsPort!);
      fs.writeFileSync(configFile, `domain: ${DOMAIN}\nhttpsPort: 0\ntlsCert: missing.pem\ntlsKey: live.key\nmaxVisitorsPerNetwork: nope\n`);
      edge.cli.child.kill('SIGHUP');
      await eventually('the reload refused', () => /config not reloaded, still running the previous one: .*maxVisitorsPerNetwork/.exec(edge.cli.stderr()) ?? undefined);
      expect(edge.alive()).toBe(true);
      expect(await servedFingerprint(edge.httpsPort!)).toBe(before);
    });
  });
});
