import tls from 'node:tls';
import { challengeRecordName, rawHttpAnswer, type DomainView } from '../../protocol/index.js';
import type { Logger } from '../logger.js';
import { renderErrorPage } from '../pages/error-page.js';
import { HTTP01_PREFIX, type ChallengeBoard, type DomainCertificates } from './domain-certificates.js';
import type { DomainProofs, ProofOutcome } from './domain-proof.js';
import type { DomainRow, DomainStore, VerifiedDomain } from './domain-store.js';

/** Renew a custom domain's certificate when fewer than this many milliseconds remain (as the zone's). */
export const DOMAIN_RENEW_BEFORE_MS = 30 * 86_400_000;
/** An unverified claim not checked for this long is deleted. */
export const PENDING_CLAIM_TTL_MS = 7 * 86_400_000;
/** How often an edge reads the verified domains again, to follow the other edges' changes. */
export const DOMAIN_REFRESH_MS = 30_000;
/** After a failed certificate order, the next try for that domain waits this long, doubling up to a day. */
const ORDER_RETRY_MIN_MS = 60_000;
const ORDER_RETRY_MAX_MS = 86_400_000;
/** Domains remembered as removed, for "not found" answers instead of the apex's pages. */
const MAX_GONE = 10_000;

/** What the front door does with a request for a host outside the zone. */
export type DomainVisit =
  | { kind: 'route'; label: string; accountId: number }
  /** Answer these bytes and close (an HTTP-01 answer, or "not found" for a domain not routed). */
  | { kind: 'answer'; bytes: Buffer };

/** The hooks the front door and the TLS listener call; sync, from memory. */
export interface DomainRouting {
  /** null: not a custom domain this edge knows; the apex app answers as before. */
  visit(host: string, path: string | null, wantsHtml: boolean): DomainVisit | null;
  /** The certificate for a verified domain's TLS handshake, or undefined (the zone's is served). */
  secureContext(servername: string): tls.SecureContext | undefined;
}

/**
 * Custom domains at the edge (issue 13): claims, proofs, routing, certificates. State lives in
 * the database (DomainStore); this edge keeps a copy of the verified ones in memory for the
 * front door, read again every {@link DOMAIN_REFRESH_MS} and after every change made here.
 * Every `checkIntervalMs` each verified domain's proof is checked again: a definite failure (TXT
 * gone or changed, CNAME elsewhere) revokes it at once, routing and renewals stop; a DNS outage
 * revokes nothing. Certificates are ordered after verification and renewed at the same beat.
 */
export class CustomDomains implements DomainRouting {
  #routes = new Map<string, VerifiedDomain>();
  #contexts = new Map<string, { validTo: number; context: tls.SecureContext }>();
  /** `<domain> <token>` → key authorization: HTTP-01 answers published by any edge. */
  #challenges = new Map<string, string>();
  #gone = new Set<string>();
  #orderBackoff = new Map<string, { failures: number; retryAt: number }>();
  #ordering = new Set<string>();
  #timers: NodeJS.Timeout[] = [];
  #closed = false;
  #checking: Promise<void> | null = null;

  constructor(
    private readonly zone: string,
    readonly store: DomainStore,
    private readonly proofs: DomainProofs,
    /** Absent without `--acme`: custom domains are served over HTTP, and HTTPS with the zone's certificate. */
    private readonly certificates: DomainCertificates | undefined,
    private readonly checkIntervalMs: number,
    private readonly logger: Logger,
  ) {}

  /** Loads the verified domains, then starts the refresh and re-check timers. */
  async start(): Promise<void> {
    await this.refresh();
    const every = (ms: number, run: () => Promise<unknown>): void => {
      const timer = setInterval(() => {
        run().catch((error: unknown) => this.logger.error({ err: error }, 'custom domains: periodic work failed'));
      }, ms);
      timer.unref();
      this.#timers.push(timer);
    };
    every(Math.min(DOMAIN_REFRESH_MS, this.checkIntervalMs), () => this.refresh());
    every(this.checkIntervalMs, () => this.recheckAll());
    // Certificates missing at start (a new edge, an order cut by a restart) are ordered now.
    this.#renewDue();
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
  }

  /** The zone's own names are never custom domains. */
  isZoneName(domain: string): boolean {
    return domain === this.zone || domain.endsWith(`.${this.zone}`);
  }

  /** `<label>.<zone>`: what a domain's CNAME must point at. */
  target(label: string): string {
    return `${label}.${this.zone}`;
  }

  /** `alice` from `alice` or `alice.<zone>`. */
  labelOf(name: string): string {
    const lower = name.toLowerCase().replace(/\.$/, '');
    return lower.endsWith(`.${this.zone}`) ? lower.slice(0, -this.zone.length - 1) : lower;
  }

  visit(host: string, path: string | null, wantsHtml: boolean): DomainVisit | null {
    const name = host.toLowerCase();
    if (path !== null && path.startsWith(HTTP01_PREFIX)) {
      const keyAuthorization = this.certificates?.answer(name, path) ?? this.#challenges.get(`${name} ${path.slice(HTTP01_PREFIX.length)}`);
      if (keyAuthorization !== undefined && keyAuthorization !== null) return { kind: 'answer', bytes: rawHttpAnswer(200, keyAuthorization, { 'Content-Type': 'text/plain' }) };
    }
    const route = this.#routes.get(name);
    if (route !== undefined) return { kind: 'route', label: route.label, accountId: route.accountId };
    // Only a domain that was verified and lost it gets the "not routed" page. An unproven claim
    // changes nothing: anyone may claim any host, and the edge's own out-of-zone hostname
    // (its API, console, tunnel endpoint) must keep reaching the apex.
    if (!this.#gone.has(name)) return null;
    return { kind: 'answer', bytes: this.notFound(name, wantsHtml) };
  }

  /** The edge's "not found" page for a custom domain it does not route (removed, unproven). */
  notFound(domain: string, wantsHtml: boolean): Buffer {
    const page = renderErrorPage(404, 'Not found', `${domain} is not routed by this edge: its custom domain is not verified.`, wantsHtml);
    return rawHttpAnswer(404, page.body, { 'Content-Type': page.contentType });
  }

  secureContext(servername: string): tls.SecureContext | undefined {
    return this.#contexts.get(servername.toLowerCase())?.context;
  }

  /** Reads the verified domains (and their certificates) from the database. */
  async refresh(): Promise<void> {
    const verified = await this.store.verified();
    const routes = new Map(verified.map((row) => [row.domain, row]));
    for (const domain of this.#routes.keys()) if (!routes.has(domain)) this.#forget(domain);
    this.#routes = routes;
    this.#challenges = new Map(verified.flatMap((row) => (row.acmeToken !== null && row.acmeKeyAuth !== null ? [[`${row.domain} ${row.acmeToken}`, row.acmeKeyAuth] as const] : [])));
    const contexts = new Map<string, { validTo: number; context: tls.SecureContext }>();
    for (const row of verified) {
      if (row.certPem === null || row.keyPem === null || row.certValidTo === null) continue;
      const known = this.#contexts.get(row.domain);
      if (known !== undefined && known.validTo === row.certValidTo.getTime()) {
        contexts.set(row.domain, known);
        continue;
      }
      try {
        contexts.set(row.domain, { validTo: row.certValidTo.getTime(), context: tls.createSecureContext({ cert: row.certPem, key: row.keyPem, minVersion: 'TLSv1.2' }) });
      } catch (error) {
        this.logger.warn({ err: error, domain: row.domain }, 'custom domain certificate does not load; serving the zone certificate');
      }
    }
    this.#contexts = contexts;
  }

  #forget(domain: string): void {
    this.#gone.add(domain);
    if (this.#gone.size > MAX_GONE) this.#gone.delete(this.#gone.values().next().value!);
  }

  /** A domain removed here: gone from routing at once (other edges follow at their next refresh). */
  async removed(domain: string): Promise<void> {
    this.#forget(domain);
    await this.refresh();
  }

  /**
   * Checks one claim's proof now; on success marks it verified (and orders its certificate),
   * on failure records why. Returns the outcome and the row as it is after.
   */
  async verify(row: DomainRow): Promise<ProofOutcome> {
    const outcome = await this.proofs.check(row.domain, row.token, this.target(row.label));
    const now = new Date();
    if (outcome.kind === 'proven') {
      await this.store.markVerified(row.id, row.domain, now);
      this.#gone.delete(row.domain);
      await this.refresh();
      this.logger.info({ domain: row.domain, name: row.label }, 'custom domain verified');
      this.#renewDue();
    } else {
      // A verified domain whose proof is definitely gone stops now, as at a re-check.
      const revoke = outcome.kind === 'failed' && row.verifiedAt !== null;
      await this.store.markFailed(row.id, outcome.reason, now, revoke);
      if (revoke) await this.refresh();
    }
    return outcome;
  }

  /** Checks every verified domain again (also run by the timer); resolves when done. */
  recheckAll(): Promise<void> {
    this.#checking ??= this.#recheck().finally(() => { this.#checking = null; });
    return this.#checking;
  }

  async #recheck(): Promise<void> {
    const rows = await this.store.verifiedRows();
    for (const row of rows) {
      if (this.#closed) return;
      const outcome = await this.proofs.check(row.domain, row.token, this.target(row.label));
      const now = new Date();
      if (outcome.kind === 'proven') await this.store.markChecked(row.id, now);
      else if (outcome.kind === 'undecided') {
        await this.store.markFailed(row.id, outcome.reason, now, false);
        this.logger.warn({ domain: row.domain, reason: outcome.reason }, 'custom domain re-check undecided; it stays verified');
      } else {
        await this.store.markFailed(row.id, outcome.reason, now, true);
        this.logger.warn({ domain: row.domain, name: row.label, reason: outcome.reason }, 'custom domain proof failed at re-check; routing stopped');
      }
    }
    const expired = await this.store.expirePending(new Date(Date.now() - PENDING_CLAIM_TTL_MS));
    if (expired > 0) this.logger.info({ expired }, 'unverified custom domain claims expired');
    await this.refresh();
    this.#renewDue();
  }

  /** Orders, in the background, certificates missing or due for verified domains. */
  #renewDue(): void {
    if (this.certificates === undefined || this.#closed) return;
    const now = Date.now();
    for (const row of this.#routes.values()) {
      const due = row.certValidTo === null || row.certValidTo.getTime() - now < DOMAIN_RENEW_BEFORE_MS;
      const backoff = this.#orderBackoff.get(row.domain);
      if (!due || this.#ordering.has(row.domain) || (backoff !== undefined && backoff.retryAt > now)) continue;
      void this.#orderFor(row);
    }
  }

  async #orderFor(row: VerifiedDomain): Promise<void> {
    this.#ordering.add(row.domain);
    try {
      const issued = await this.certificates!.order(row.domain);
      // Still ours? A removal or a failed re-check meanwhile wins over the new certificate.
      const current = await this.store.verified();
      const still = current.find((entry) => entry.domain === row.domain && entry.accountId === row.accountId);
      if (still === undefined || this.#closed) return;
      const id = (await this.store.get(row.accountId, row.domain))?.id;
      if (id === undefined) return;
      await this.store.saveCertificate(id, issued.certPem, issued.keyPem, issued.validTo);
      this.#orderBackoff.delete(row.domain);
      await this.refresh();
    } catch (error) {
      const failures = (this.#orderBackoff.get(row.domain)?.failures ?? 0) + 1;
      const retryInMs = Math.min(ORDER_RETRY_MIN_MS * 2 ** (failures - 1), ORDER_RETRY_MAX_MS);
      this.#orderBackoff.set(row.domain, { failures, retryAt: Date.now() + retryInMs });
      this.logger.warn({ err: error, domain: row.domain, failures, retryInSeconds: retryInMs / 1000 }, 'custom domain certificate order failed; will retry');
    } finally {
      this.#ordering.delete(row.domain);
    }
  }

  /**
   * HTTP-01 answers through the database: published, then held until every edge has read it
   * (one refresh period), since the CA may ask any edge of the zone.
   */
  challengeBoard(): ChallengeBoard {
    return {
      publish: async (domain, token, keyAuthorization) => {
        await this.store.setChallenge(domain, token, keyAuthorization);
        await new Promise((resolve) => setTimeout(resolve, Math.min(DOMAIN_REFRESH_MS, this.checkIntervalMs) + 100));
      },
      withdraw: (domain) => this.store.setChallenge(domain, null, null),
    };
  }

  /** The API's view of a row. */
  view(row: DomainRow): DomainView {
    const verified = row.verifiedAt !== null;
    return {
      domain: row.domain,
      name: row.label,
      status: verified ? 'verified' : row.lastError !== null ? 'failed' : 'pending',
      txtName: challengeRecordName(row.domain),
      txtValue: row.token,
      cnameTarget: this.target(row.label),
      lastError: row.lastError,
      checkedAt: row.checkedAt?.toISOString() ?? null,
      certificateValidTo: verified && row.certValidTo !== null ? row.certValidTo.toISOString() : null,
      createdAt: row.createdAt.toISOString(),
    };
  }
}
