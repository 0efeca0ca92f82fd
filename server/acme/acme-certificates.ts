import crypto from 'node:crypto';
import https from 'node:https';
import acme from 'acme-client';
import type { Logger } from '../logger.js';
import type { TlsCredentials } from '../proxy/tls-listener.js';
import type { AcmeFiles } from './acme-files.js';
import type { ChallengeRecords } from './challenge-records.js';

/** Renew when fewer than this many milliseconds of validity remain (Let's Encrypt advises 30 days). */
export const RENEW_BEFORE_MS = 30 * 86_400_000;
/** How often a valid certificate is looked at again. */
export const CHECK_INTERVAL_MS = 12 * 3_600_000;
/** First retry delay after a failed order; doubles per failure up to {@link RETRY_MAX_MS}. */
export const RETRY_MIN_MS = 60_000;
export const RETRY_MAX_MS = 3_600_000;

/** Settings of the ACME client (from `--acme-directory`, `--acme-email`, `--acme-ca`). */
export interface AcmeSettings {
  /** Zone apex; the certificate covers it and `*.<domain>`. */
  domain: string;
  directoryUrl: string;
  email?: string;
  /** Extra CA (PEM) trusted for the ACME server's own HTTPS, for private ACME servers. */
  ca?: Buffer;
}

/**
 * True when `cert` must be replaced: it does not cover both `<domain>` and `*.<domain>`, or
 * fewer than {@link RENEW_BEFORE_MS} remain before it expires.
 */
export function renewalDue(cert: Buffer, domain: string, now = Date.now()): boolean {
  const certificate = new crypto.X509Certificate(cert);
  return !coversZone(certificate, domain) || Date.parse(certificate.validTo) - now < RENEW_BEFORE_MS;
}

/** True when the certificate names both `<domain>` and `*.<domain>` (a changed --domain needs a new one). */
function coversZone(certificate: crypto.X509Certificate, domain: string): boolean {
  const names = (certificate.subjectAltName ?? '').split(', ');
  return names.includes(`DNS:${domain}`) && names.includes(`DNS:*.${domain}`);
}

/**
 * One wildcard certificate for the zone, obtained through ACME DNS-01 and kept current: the
 * stored one is used while valid, renewed when due, retried with exponential backoff on
 * failure, and every new one is handed to `install` (the TLS listener's `setSecureContext`).
 * Challenge TXT values are published through `challenges`, which the edge's own DNS serves.
 */
export class AcmeCertificates {
  /** Settles when a certificate from the CA (stored or new) is installed. */
  readonly ready: Promise<void>;
  #current: TlsCredentials | null = null;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #markReady!: () => void;

  constructor(
    private readonly settings: AcmeSettings,
    private readonly files: AcmeFiles,
    private readonly challenges: ChallengeRecords,
    private readonly install: (credentials: TlsCredentials) => void,
    private readonly logger: Logger,
  ) {
    this.ready = new Promise((resolve) => { this.#markReady = resolve; });
  }

  /**
   * The stored certificate when it covers the domain and has not expired (even if renewal is
   * due: better than a self-signed one meanwhile), else null.
   */
  async loadStored(now = Date.now()): Promise<TlsCredentials | null> {
    const stored = await this.files.readCertificate();
    if (stored === null) return null;
    try {
      const certificate = new crypto.X509Certificate(stored.cert);
      if (!coversZone(certificate, this.settings.domain) || Date.parse(certificate.validTo) <= now) return null;
      // Key and certificate are two files: a crash between their renames leaves a pair that
      // does not match, and serving it would stop the edge at every start. Order anew instead.
      if (!certificate.checkPrivateKey(crypto.createPrivateKey(stored.key))) {
        this.logger.warn('stored ACME certificate and key do not match; ordering a new one');
        return null;
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'stored ACME certificate does not parse; ordering a new one');
      return null;
    }
    this.#current = stored;
    this.#markReady();
    return stored;
  }

  /** Checks now, then every {@link CHECK_INTERVAL_MS}. Call after {@link loadStored}. */
  start(): void {
    this.#schedule(0);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #schedule(delay: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.#check(), delay);
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    if (this.#current !== null && !renewalDue(this.#current.cert, this.settings.domain)) {
      this.#schedule(CHECK_INTERVAL_MS);
      return;
    }
    try {
      const credentials = await this.#order();
      if (this.#closed) return;
      this.#current = credentials;
      this.install(credentials);
      this.#markReady();
      this.#failures = 0;
      this.#schedule(CHECK_INTERVAL_MS);
    } catch (error) {
      if (this.#closed) return;
      this.#failures += 1;
      const retryInMs = Math.min(RETRY_MIN_MS * 2 ** (this.#failures - 1), RETRY_MAX_MS);
      this.logger.warn({ err: error, failures: this.#failures, retryInSeconds: retryInMs / 1000 }, 'ACME certificate order failed; will retry');
      this.#schedule(retryInMs);
    }
  }

  async #order(): Promise<TlsCredentials> {
    const { domain, directoryUrl, email, ca } = this.settings;
    // acme-client sends everything through its one shared axios instance.
    if (ca !== undefined) acme.axios.defaults.httpsAgent = new https.Agent({ ca });
    let accountKey = await this.files.readAccountKey();
    if (accountKey === null) {
      accountKey = await acme.crypto.createPrivateEcdsaKey();
      await this.files.writeAccountKey(accountKey);
    }
    this.logger.info({ directoryUrl, names: [domain, `*.${domain}`] }, 'ordering an ACME certificate (DNS-01)');
    const client = new acme.Client({ directoryUrl, accountKey });
    const [key, csr] = await acme.crypto.createCsr({ commonName: domain, altNames: [domain, `*.${domain}`] }, await acme.crypto.createPrivateEcdsaKey());
    const cert = await client.auto({
      csr,
      email,
      termsOfServiceAgreed: true,
      challengePriority: ['dns-01'],
      // The values are served by our own authoritative DNS the moment they are added, so there
      // is no propagation to wait for (and the CA, not this host's resolver, is who must see them).
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, _challenge, value) => { this.challenges.add(value); },
      challengeRemoveFn: async (_authz, _challenge, value) => { this.challenges.remove(value); },
    });
    const credentials = { cert: Buffer.from(cert), key };
    await this.files.writeCertificate(credentials);
    this.logger.info({ validTo: new crypto.X509Certificate(credentials.cert).validTo }, 'ACME certificate issued and installed');
    return credentials;
  }
}
