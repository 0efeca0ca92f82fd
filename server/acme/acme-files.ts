import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { TlsCredentials } from '../proxy/tls-listener.js';

/** What `<data-dir>/acme/` holds: the account key and the current certificate with its key. */
export interface AcmeFiles {
  /** PEM account key, or null before the first order. */
  readAccountKey(): Promise<Buffer | null>;
  writeAccountKey(key: Buffer): Promise<void>;
  /** The stored certificate chain and key, or null when there is none (or half of one). */
  readCertificate(): Promise<TlsCredentials | null>;
  writeCertificate(credentials: TlsCredentials): Promise<void>;
}

const ACCOUNT_KEY = 'account-key.pem';
const CERTIFICATE = 'certificate.pem';
const CERTIFICATE_KEY = 'certificate-key.pem';

/** The ACME files under `dir` (created 0700 on first write; files 0600, replaced atomically). */
export function acmeFiles(dir: string): AcmeFiles {
  const read = async (name: string): Promise<Buffer | null> => {
    try {
      return await fs.readFile(path.join(dir, name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  };
  // Write-then-rename, so a crash mid-write leaves the previous file, never half of one.
  const write = async (name: string, data: Buffer): Promise<void> => {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const temporary = path.join(dir, `.${name}.${crypto.randomBytes(6).toString('hex')}.tmp`);
    try {
      await fs.writeFile(temporary, data, { mode: 0o600 });
      await fs.rename(temporary, path.join(dir, name));
    } catch (error) {
      await fs.rm(temporary, { force: true });
      throw error;
    }
  };
  return {
    readAccountKey: () => read(ACCOUNT_KEY),
    writeAccountKey: (key) => write(ACCOUNT_KEY, key),
    async readCertificate() {
      const [cert, key] = await Promise.all([read(CERTIFICATE), read(CERTIFICATE_KEY)]);
      return cert === null || key === null ? null : { cert, key };
    },
    // Two renames are not atomic together: a crash between them leaves a mismatched pair, which
    // AcmeCertificates.loadStored detects (checkPrivateKey) and replaces with a new order.
    async writeCertificate(credentials) {
      await write(CERTIFICATE_KEY, credentials.key);
      await write(CERTIFICATE, credentials.cert);
    },
  };
}
