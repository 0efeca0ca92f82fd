import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from 'vitest';
import { acmeFiles } from './acme-files.js';

test('keys and certificates are written 0600 and read back', async () => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'udns-acme-')), 'acme');
  const files = acmeFiles(dir);
  expect(await files.readAccountKey()).toBeNull();
  expect(await files.readCertificate()).toBeNull();
  await files.writeAccountKey(Buffer.from('account'));
  await files.writeCertificate({ cert: Buffer.from('cert'), key: Buffer.from('key') });
  expect(String(await files.readAccountKey())).toBe('account');
  const stored = await files.readCertificate();
  expect(String(stored?.cert)).toBe('cert');
  expect(String(stored?.key)).toBe('key');
  for (const name of fs.readdirSync(dir)) expect(fs.statSync(path.join(dir, name)).mode & 0o777).toBe(0o600);
  expect(fs.readdirSync(dir).sort()).toEqual(['account-key.pem', 'certificate-key.pem', 'certificate.pem']);
});
