import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { expect, test, vi } from 'vitest';
import { AcmeCertificates, RENEW_BEFORE_MS, RETRY_MIN_MS, renewalDue } from './acme-certificates.js';
import { acmeFiles } from './acme-files.js';
import { ChallengeRecords } from './challenge-records.js';
import { makeSelfSignedCredentials } from './self-signed.js';

test('renewal is due when fewer than 30 days remain, or the certificate is for another domain', async () => {
  const now = Date.now();
  const { cert } = await makeSelfSignedCredentials('edge.test', new Date(now)); // valid 7 days
  expect(renewalDue(cert, 'edge.test', now)).toBe(true);
  expect(renewalDue(cert, 'edge.test', now - RENEW_BEFORE_MS)).toBe(false);
  expect(renewalDue(cert, 'other.test', now - RENEW_BEFORE_MS)).toBe(true);
});

/** Polls on setImmediate, which the fake timers leave real, while the network does its part. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test('a failed order is retried after 1 minute, then 2: exponential backoff', async () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done(); } }));
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'udns-acme-')), 'acme');
  // A directory that answers 404: every order fails at once (acme-client itself retries only
  // network errors and 429/5xx).
  const directory = http.createServer((_req, res) => res.writeHead(404).end()).listen(0, '127.0.0.1');
  await once(directory, 'listening');
  const directoryUrl = `http://127.0.0.1:${(directory.address() as AddressInfo).port}/dir`;
  const certificates = new AcmeCertificates({ domain: 'edge.test', directoryUrl }, acmeFiles(dir), new ChallengeRecords(), () => {}, logger);
  const failures = (): Array<{ retryInSeconds: number }> => lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg?.includes('order failed'));
  try {
    expect(await certificates.loadStored()).toBeNull();
    certificates.start();
    await vi.advanceTimersByTimeAsync(0);
    await until(() => failures().length === 1);
    expect(failures()[0]!.retryInSeconds).toBe(RETRY_MIN_MS / 1000);
    await vi.advanceTimersByTimeAsync(RETRY_MIN_MS);
    await until(() => failures().length === 2);
    expect(failures()[1]!.retryInSeconds).toBe(2 * RETRY_MIN_MS / 1000);
    // The account key was made and kept for the next attempt.
    expect(fs.readdirSync(dir)).toEqual(['account-key.pem']);
  } finally {
    certificates.close();
    vi.useRealTimers();
    directory.close();
  }
});

test('regression: a stored certificate whose key does not match (a crash between the two writes) is not served', async () => {
  const logger = pino({ level: 'silent' });
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'udns-acme-')), 'acme');
  const files = acmeFiles(dir);
  const certificates = new AcmeCertificates({ domain: 'edge.test', directoryUrl: 'http://127.0.0.1:9/never' }, files, new ChallengeRecords(), () => {}, logger);
  const first = await makeSelfSignedCredentials('edge.test');
  const second = await makeSelfSignedCredentials('edge.test');
  await files.writeCertificate({ cert: first.cert, key: first.key });
  expect(await certificates.loadStored()).not.toBeNull();
  await files.writeCertificate({ cert: first.cert, key: second.key });
  expect(await certificates.loadStored()).toBeNull();
});
