import fs from 'node:fs';
import tls from 'node:tls';
import { UdnsError } from '../../protocol/index.js';
import type { Logger } from '../logger.js';

/** A certificate chain and its key, PEM. */
export interface TlsCredentials {
  cert: Buffer;
  key: Buffer;
}

/**
 * Reads `--tls-cert` / `--tls-key`, checking at start that they load and belong together, so a
 * bad file is one clear error instead of a handshake failure for every visitor later.
 * @throws UdnsError `config_invalid`
 */
export function loadTlsCredentials(certPath: string, keyPath: string): TlsCredentials {
  const read = (file: string, flag: string): Buffer => {
    try {
      return fs.readFileSync(file);
    } catch (error) {
      throw new UdnsError('config_invalid', `cannot read ${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  const credentials = { cert: read(certPath, '--tls-cert'), key: read(keyPath, '--tls-key') };
  try {
    tls.createSecureContext(credentials);
  } catch (error) {
    throw new UdnsError('config_invalid', `--tls-cert/--tls-key do not load as a PEM certificate and its key: ${(error as Error).message}`);
  }
  return credentials;
}

// Secure-context settings, given again whenever the certificate is swapped.
const CONTEXT_OPTIONS = { minVersion: 'TLSv1.2' } as const satisfies tls.SecureContextOptions;

/**
 * Swaps the listener's certificate without a restart (a renewed ACME certificate): new
 * handshakes use it, open connections keep theirs.
 */
export function replaceTlsCredentials(server: tls.Server, credentials: TlsCredentials): void {
  server.setSecureContext({ ...credentials, ...CONTEXT_OPTIONS });
}

/**
 * The HTTPS listener: terminates TLS (HTTP/1.1 only, TLS ≥ 1.2) and hands each decrypted
 * connection to the same front door as plain HTTP, so names, the apex and the tunnel endpoint
 * (`wss://`) all work over it.
 */
export function createTlsListener(
  credentials: TlsCredentials,
  onConnection: (socket: tls.TLSSocket) => void,
  logger: Logger,
  /** A certificate of its own for some server names (members' custom domains); undefined: the listener's. */
  contextFor?: (servername: string) => tls.SecureContext | undefined,
): tls.Server {
  const server = tls.createServer({
    ...credentials,
    ...CONTEXT_OPTIONS,
    ...(contextFor === undefined ? {} : { SNICallback: (servername: string, done: (error: Error | null, context?: tls.SecureContext) => void) => done(null, contextFor(servername)) }),
    ALPNProtocols: ['http/1.1'],
    // A visitor that opens a connection and never completes the handshake is cut here.
    handshakeTimeout: 15_000,
  }, onConnection);
  // Failed handshakes (scanners, clients that distrust the certificate) are everyday noise.
  server.on('tlsClientError', (error) => logger.debug({ err: error }, 'TLS handshake failed'));
  return server;
}
