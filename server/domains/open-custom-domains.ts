import fs from 'node:fs';
import path from 'node:path';
import type { Router } from 'express';
import { UdnsError } from '../../protocol/index.js';
import { storeDatabase, type AccountStore } from '../accounts/account-store.js';
import { acmeFiles } from '../acme/acme-files.js';
import type { EdgeConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { CustomDomains, type DomainRouting } from './custom-domains.js';
import { DomainCertificates, type ChallengeBoard } from './domain-certificates.js';
import { DomainProofs } from './domain-proof.js';
import { openDomainStore } from './domain-store.js';
import { createDomainsRouter } from './domains-api.js';

/** The custom-domains room as the edge wires it. */
export interface CustomDomainsRoom {
  /** The front door's and the TLS listener's hooks. */
  readonly routing: DomainRouting;
  /** `/api/v1/domains…`, mounted behind the token check. */
  readonly router: Router;
  /** The room itself (tests call `recheckAll`). */
  readonly domains: CustomDomains;
  /** Starts the re-check and refresh timers and orders missing certificates: call once the front door serves. */
  start(): void;
  close(): void;
}

/**
 * Opens custom domains over the member database: verified domains are loaded before this
 * resolves, so the front door routes them from the first connection. Certificates are ordered
 * only with `--acme` (same directory, e-mail and CA as the zone's, HTTP-01).
 */
export async function openCustomDomains(deps: { config: EdgeConfig; store: AccountStore; logger: Logger }): Promise<CustomDomainsRoom> {
  const { config, store, logger } = deps;
  const proofs = new DomainProofs(config.domainResolver, [config.publicIp, ...(config.publicIp6 === undefined ? [] : [config.publicIp6])]);
  // HTTP-01 answers go through the database to every edge (the room below publishes them).
  const board: ChallengeBoard = {
    publish: (domain, token, keyAuthorization) => domains.challengeBoard().publish(domain, token, keyAuthorization),
    withdraw: (domain) => domains.challengeBoard().withdraw(domain),
  };
  const certificates = config.acme
    ? new DomainCertificates(
      { directoryUrl: config.acmeDirectory, email: config.acmeEmail, ca: config.acmeCa === undefined ? undefined : readCa(config.acmeCa) },
      acmeFiles(path.join(config.dataDir, 'acme-domains')),
      logger,
      board,
    )
    : undefined;
  const domains: CustomDomains = new CustomDomains(config.domain, openDomainStore(storeDatabase(store)), proofs, certificates, config.domainCheckInterval, logger);
  await domains.refresh();
  return {
    routing: domains,
    router: createDomainsRouter({ domains, names: store }),
    domains,
    start: () => {
      domains.start().catch((error: unknown) => logger.error({ err: error }, 'custom domains did not start'));
    },
    close: () => domains.close(),
  };
}

function readCa(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new UdnsError('config_invalid', `cannot read --acme-ca ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
