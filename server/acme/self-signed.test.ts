import crypto from 'node:crypto';
import tls from 'node:tls';
import { expect, test } from 'vitest';
import { makeSelfSignedCredentials } from './self-signed.js';

test('the stand-in certificate loads and names the apex and the wildcard', async () => {
  const credentials = await makeSelfSignedCredentials('edge.test');
  expect(() => tls.createSecureContext(credentials)).not.toThrow();
  const certificate = new crypto.X509Certificate(credentials.cert);
  expect(certificate.subjectAltName).toContain('DNS:edge.test');
  expect(certificate.subjectAltName).toContain('DNS:*.edge.test');
  expect(certificate.checkHost('foo.edge.test')).toBeDefined();
});
