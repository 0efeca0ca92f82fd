import express, { type Response } from 'express';
import { AddDomainRequest, CustomDomainName, UdnsError, validateName } from '../../protocol/index.js';
import type { AccountInfo, AccountStore } from '../accounts/account-store.js';
import type { CustomDomains } from './custom-domains.js';

/** Parses with zod, naming every problem in one `bad_request` (or `name_invalid` for the domain alone). */
function parse<T>(result: { success: true; data: T } | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } }): T {
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || 'domain'}: ${issue.message}`);
  throw new UdnsError(result.error.issues.every((issue) => issue.path[0] === 'domain' || issue.path.length === 0) ? 'name_invalid' : 'bad_request', `invalid custom domain: ${problems.join('; ')}`);
}

/**
 * `/api/v1/domains…` behind the token check (`res.locals.account`): add (claim or re-point),
 * list, verify and remove the caller's custom domains.
 */
export function createDomainsRouter(deps: { domains: CustomDomains; names: Pick<AccountStore, 'nameOwner'> }): express.Router {
  const { domains, names } = deps;
  const router = express.Router();
  router.use('/domains', express.json({ limit: '4kb' }));
  const account = (res: Response): AccountInfo => res.locals.account as AccountInfo;

  /** A domain from the path or body: syntax, then not one of the zone's own names. */
  const domainOf = (value: unknown): string => {
    const domain = parse(CustomDomainName.safeParse(value));
    if (domains.isZoneName(domain)) {
      throw new UdnsError('name_reserved', `${domain} is in this edge's own zone: its names need no custom domain (claim one with \`udns name claim\`)`);
    }
    return domain;
  };
  const ownedRow = async (res: Response, domain: string) => {
    const row = await domains.store.get(account(res).id, domain);
    if (row === null) throw new UdnsError('not_found', `you have no custom domain ${domain}: add it with \`udns domain add ${domain} --name <name>\``);
    return row;
  };

  router.post('/domains', async (req, res) => {
    const body = parse(AddDomainRequest.safeParse(req.body ?? {}));
    const domain = domainOf(body.domain);
    const label = validateName(domains.labelOf(body.name));
    if (await names.nameOwner(label) !== account(res).id) {
      throw new UdnsError('not_found', `you hold no name ${label}: claim it with \`udns name claim ${label}\``);
    }
    const holder = await domains.store.verifiedHolder(domain);
    if (holder !== null && holder !== account(res).id) throw new UdnsError('name_taken', `${domain} is verified by another account`);
    const { row, created } = await domains.store.claim(account(res).id, domain, label);
    // A re-pointed verified domain lost its verification: routing follows at once.
    if (!created) await domains.refresh();
    res.status(created ? 201 : 200).json({ created, domain: domains.view(row) });
  });

  router.get('/domains', async (_req, res) => {
    const rows = await domains.store.list(account(res).id);
    res.json({ domains: rows.map((row) => domains.view(row)) });
  });

  // One proof check per account at a time (each is up to four DNS questions to a domain the member names).
  const verifying = new Set<number>();
  router.post('/domains/:domain/verify', async (req, res) => {
    const row = await ownedRow(res, domainOf(req.params.domain));
    const holder = await domains.store.verifiedHolder(row.domain);
    if (holder !== null && holder !== account(res).id) throw new UdnsError('name_taken', `${row.domain} is verified by another account`);
    if (verifying.has(row.accountId)) throw new UdnsError('rate_limited', 'another verify of yours is running: try again when it has answered');
    verifying.add(row.accountId);
    const outcome = await domains.verify(row).finally(() => verifying.delete(row.accountId));
    if (outcome.kind !== 'proven') {
      throw new UdnsError('proof_rejected', `${row.domain} is not verified: ${outcome.reason}`);
    }
    res.json({ domain: domains.view((await domains.store.get(account(res).id, row.domain))!) });
  });

  router.delete('/domains/:domain', async (req, res) => {
    const domain = domainOf(req.params.domain);
    if (!await domains.store.remove(account(res).id, domain)) {
      throw new UdnsError('not_found', `you have no custom domain ${domain}: \`udns domain list\` shows yours`);
    }
    await domains.removed(domain);
    res.json({ removed: domain });
  });

  return router;
}
