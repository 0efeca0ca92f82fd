import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { acmeFiles } from '../../server/acme/acme-files.js';
import { makeSelfSignedCredentials } from '../../server/acme/self-signed.js';
import { freeDnsPort, startPebble, type Pebble } from '../helpers/pebble.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

/** The certificate the edge presents for `servername`, verified against `ca` (unless null). */
function presentedCertificate(port: number, servername: string, ca: string | null): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const trust = ca === null ? { rejectUnauthorized: false } : { ca };
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ...trust }, () => {
      const certificate = socket.getPeerCertificate();
      socket.end();
      resolve(certificate);
    });
    socket.once('error', reject);
  });
}

describe('ACME DNS-01 against pebble', () => {
  let pebble: Pebble;
  let edge: TestEdge | undefined;
  let dnsPort: number;
  let dataDir: string;

  const startAcmeEdge = (dir = dataDir): Promise<TestEdge> => startTestEdge({
    domain: 'edge.test', dnsPort, dataDir: dir, httpsPort: 0, acme: true,
    acmeDirectory: pebble.directoryUrl, acmeCa: pebble.httpsCaFile, acmeEmail: 'ops@edge.test',
  });

  beforeAll(async () => {
    dnsPort = await freeDnsPort();
    pebble = await startPebble(`127.0.0.1:${dnsPort}`);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-acme-edge-'));
  });
  afterAll(async () => {
    await edge?.close();
    await pebble?.stop();
  });

  test('the edge starts on a self-signed certificate, then serves a pebble-issued wildcard', async () => {
    edge = await startAcmeEdge();
    expect(edge.logs()).toContain('ACME certificate pending');
    await edge.edge.acme!.ready;
    const root = await pebble.issuingRoot();
    const port = edge.edge.httpsPort!;
    for (const servername of ['foo.edge.test', 'edge.test']) {
      const certificate = await presentedCertificate(port, servername, root);
      expect(certificate.subjectaltname).toContain('DNS:*.edge.test');
      expect(certificate.subjectaltname).toContain('DNS:edge.test');
    }
    const acmeDir = path.join(dataDir, 'acme');
    for (const name of fs.readdirSync(acmeDir)) expect(fs.statSync(path.join(acmeDir, name)).mode & 0o777).toBe(0o600);
    expect(edge.logs()).toContain('ACME certificate issued and installed');
  }, 60_000);

  test('a stored certificate with under 30 days left is served at start, then renewed in place', async () => {
    await edge!.close();
    const renewDir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-acme-renew-'));
    const planted = await makeSelfSignedCredentials('edge.test'); // valid 7 days: renewal due
    await acmeFiles(path.join(renewDir, 'acme')).writeCertificate(planted);
    const renewing = await startAcmeEdge(renewDir);
    try {
      const port = renewing.edge.httpsPort!;
      expect(renewing.logs()).not.toContain('ACME certificate pending');
      const root = await pebble.issuingRoot();
      const deadline = Date.now() + 20_000;
      let served = await presentedCertificate(port, 'foo.edge.test', null);
      const plantedSerial = new crypto.X509Certificate(planted.cert).serialNumber;
      while (served.serialNumber === plantedSerial && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        served = await presentedCertificate(port, 'foo.edge.test', null);
      }
      // Same listener, same port: the renewed certificate was swapped in without a restart.
      const renewed = await presentedCertificate(port, 'foo.edge.test', root);
      expect(renewed.serialNumber).not.toBe(plantedSerial);
      expect(renewed.subjectaltname).toContain('DNS:*.edge.test');
    } finally {
      await renewing.close();
    }
  }, 60_000);

  test('a restart with the same data dir reuses the stored certificate without asking pebble', async () => {
    const root = await pebble.issuingRoot();
    const before = new crypto.X509Certificate(fs.readFileSync(path.join(dataDir, 'acme', 'certificate.pem')));
    await edge?.close(); // closing twice is a no-op
    await pebble.stop(); // any order now would fail and be logged
    edge = await startAcmeEdge();
    await edge.edge.acme!.ready;
    const served = await presentedCertificate(edge.edge.httpsPort!, 'foo.edge.test', root);
    expect(served.serialNumber).toBe(before.serialNumber);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(edge.logs()).not.toContain('ordering an ACME certificate');
    expect(edge.logs()).not.toContain('ACME certificate pending');
  }, 30_000);
});
