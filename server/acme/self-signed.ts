import { generate } from 'selfsigned';
import type { TlsCredentials } from '../proxy/tls-listener.js';

/** Validity of the stand-in certificate: long enough for any first ACME order with retries. */
const SELF_SIGNED_DAYS = 7;

/**
 * A throwaway self-signed certificate for `<domain>` and `*.<domain>` (P-256), made in-process
 * so the HTTPS listener can start before ACME has issued the real one. Nobody trusts it;
 * agents refuse it unless `--insecure`, which is the point: it only keeps the port open.
 */
export async function makeSelfSignedCredentials(domain: string, now = new Date()): Promise<TlsCredentials> {
  const pems = await generate([{ name: 'commonName', value: domain }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + SELF_SIGNED_DAYS * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: domain }, { type: 2, value: `*.${domain}` }] },
    ],
  });
  return { cert: Buffer.from(pems.cert), key: Buffer.from(pems.private) };
}
