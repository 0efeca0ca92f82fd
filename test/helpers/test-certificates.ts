import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A private CA and a certificate it signed for `<domain>`, `*.<domain>` and 127.0.0.1. Use a
 * domain of two labels or more (`edge.test`): clients refuse wildcards like `*.localhost`.
 */
export interface TestCertificates {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** A self-signed certificate nobody trusts, for the negative cases. */
  strangerCertFile: string;
  strangerKeyFile: string;
  ca: string;
}

/** Makes the certificates with the real openssl (Debian's), in a fresh temp dir. */
export function makeTestCertificates(domain = 'edge.test'): TestCertificates {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-certs-'));
  const at = (name: string): string => path.join(dir, name);
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=udns test CA', '-keyout', at('ca.key'), '-out', at('ca.pem'));
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', `/CN=${domain}`, '-keyout', at('edge.key'), '-out', at('edge.csr'));
  fs.writeFileSync(at('ext.cnf'), `subjectAltName=DNS:${domain},DNS:*.${domain},IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  openssl('x509', '-req', '-in', at('edge.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial',
    '-days', '2', '-extfile', at('ext.cnf'), '-out', at('edge.pem'));
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', `/CN=${domain}`, '-addext', `subjectAltName=DNS:${domain},DNS:*.${domain},IP:127.0.0.1`,
    '-keyout', at('stranger.key'), '-out', at('stranger.pem'));
  return {
    dir,
    caFile: at('ca.pem'),
    certFile: at('edge.pem'),
    keyFile: at('edge.key'),
    strangerCertFile: at('stranger.pem'),
    strangerKeyFile: at('stranger.key'),
    ca: fs.readFileSync(at('ca.pem'), 'utf8'),
  };
}
