import crypto from 'node:crypto';
import https from 'node:https';
import acme from 'acme-client';
import type { AcmeFiles } from '../acme/acme-files.js';
import type { Logger } from '../logger.js';

/** The ACME client settings for custom domains: the zone's (`--acme-directory`, `--acme-email`, `--acme-ca`). */
export interface DomainAcmeSettings {
  directoryUrl: string;
  email?: string;
  ca?: Buffer;
}

/** Where HTTP-01 answers are served: `/.well-known/acme-challenge/<token>`. */
export const HTTP01_PREFIX = '/.well-known/acme-challenge/';

/** Where an HTTP-01 answer is published for the other edges (the database), and withdrawn. */
export interface ChallengeBoard {
  /** Resolves once every edge serves it (or soon will: the caller decides how long to wait). */
  publish(domain: string, token: string, keyAuthorization: string): Promise<void>;
  withdraw(domain: string): Promise<void>;
}

/**
 * Orders certificates for custom domains over ACME HTTP-01 (the domain's DNS is not ours, so
 * DNS-01 is out): the CA fetches `http://<domain>/.well-known/acme-challenge/<token>`, which the
 * front door answers from {@link answer} before anything is routed to the member. The answer
 * is also published on the `board` (the database), since the CA may reach any edge of the
 * zone. One order at a time; the account key is its own file (`<data-dir>/acme-domains/`),
 * apart from the zone's.
 */
export class DomainCertificates {
  /** `<domain> <token>` → key authorization, while an order waits for the CA. */
  readonly #pending = new Map<string, string>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly settings: DomainAcmeSettings, private readonly files: AcmeFiles, private readonly logger: Logger, private readonly board?: ChallengeBoard) {}

  /** The key authorization for an HTTP-01 request to `host` at `path`, or null when none is pending. */
  answer(host: string, path: string): string | null {
    if (!path.startsWith(HTTP01_PREFIX)) return null;
    return this.#pending.get(`${host} ${path.slice(HTTP01_PREFIX.length)}`) ?? null;
  }

  /** Orders a certificate for `domain` (queued behind any running order). */
  order(domain: string): Promise<{ certPem: string; keyPem: string; validTo: Date }> {
    const run = this.#queue.then(() => this.#order(domain));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #order(domain: string): Promise<{ certPem: string; keyPem: string; validTo: Date }> {
    const { directoryUrl, email, ca } = this.settings;
    // acme-client sends everything through its one shared axios instance (as the zone's orders do).
    if (ca !== undefined) acme.axios.defaults.httpsAgent = new https.Agent({ ca });
    let accountKey = await this.files.readAccountKey();
    if (accountKey === null) {
      accountKey = await acme.crypto.createPrivateEcdsaKey();
      await this.files.writeAccountKey(accountKey);
    }
    this.logger.info({ directoryUrl, domain }, 'ordering an ACME certificate for a custom domain (HTTP-01)');
    const client = new acme.Client({ directoryUrl, accountKey });
    const [key, csr] = await acme.crypto.createCsr({ commonName: domain, altNames: [domain] }, await acme.crypto.createPrivateEcdsaKey());
    const cert = await client.auto({
      csr,
      email,
      termsOfServiceAgreed: true,
      challengePriority: ['http-01'],
      // The CA asks the domain itself; this host's view of the domain's DNS proves nothing.
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
        this.#pending.set(`${domain} ${challenge.token}`, keyAuthorization);
        await this.board?.publish(domain, challenge.token, keyAuthorization);
      },
      challengeRemoveFn: async (_authz, challenge) => {
        this.#pending.delete(`${domain} ${challenge.token}`);
        await this.board?.withdraw(domain);
      },
    });
    const validTo = new Date(new crypto.X509Certificate(cert).validTo);
    this.logger.info({ domain, validTo: validTo.toISOString() }, 'custom domain certificate issued');
    return { certPem: cert, keyPem: key.toString(), validTo };
  }
}
