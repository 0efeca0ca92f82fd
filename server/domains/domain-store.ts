import crypto from 'node:crypto';
import { MAX_DOMAINS_PER_ACCOUNT, UdnsError } from '../../protocol/index.js';
import type { StoreDatabase } from '../accounts/account-store.js';

/** A custom domain row as the room uses it. */
export interface DomainRow {
  id: number;
  domain: string;
  accountId: number;
  label: string;
  token: string;
  createdAt: Date;
  verifiedAt: Date | null;
  checkedAt: Date | null;
  lastError: string | null;
  certPem: string | null;
  keyPem: string | null;
  certValidTo: Date | null;
}

/** A verified domain, what routing and the TLS listener need. */
export interface VerifiedDomain {
  domain: string;
  accountId: number;
  label: string;
  certPem: string | null;
  keyPem: string | null;
  certValidTo: Date | null;
  /** A pending ACME HTTP-01 answer, which every edge serves. */
  acmeToken: string | null;
  acmeKeyAuth: string | null;
}

/**
 * The custom domains in the member database (model CustomDomain), so several edges share them.
 * At most one account holds a domain verified: the unique `verifiedDomain` column settles races
 * between edges; pending claims of other accounts do not block anyone (no squatting).
 */
export interface DomainStore {
  /** Claims `domain` for `label` of the account, or re-points the account's claim (a new label drops the verification). */
  claim(accountId: number, domain: string, label: string): Promise<{ row: DomainRow; created: boolean }>;
  get(accountId: number, domain: string): Promise<DomainRow | null>;
  list(accountId: number): Promise<DomainRow[]>;
  /** The account holding `domain` verified, if any. */
  verifiedHolder(domain: string): Promise<number | null>;
  /** @throws UdnsError name_taken when another account verified it first */
  markVerified(id: number, domain: string, now: Date): Promise<void>;
  /** Records a failed check; `revoke` drops the verification and the certificate. */
  markFailed(id: number, reason: string, now: Date, revoke: boolean): Promise<void>;
  /** Records a passing re-check. */
  markChecked(id: number, now: Date): Promise<void>;
  saveCertificate(id: number, certPem: string, keyPem: string, validTo: Date): Promise<void>;
  /** Publishes (or with nulls withdraws) the HTTP-01 answer of a verified domain, for every edge. */
  setChallenge(domain: string, token: string | null, keyAuthorization: string | null): Promise<void>;
  remove(accountId: number, domain: string): Promise<boolean>;
  verified(): Promise<VerifiedDomain[]>;
  /** Every verified row, with its proof token, for the periodic re-check. */
  verifiedRows(): Promise<DomainRow[]>;
  /** Deletes unverified claims last checked (or made, if never checked) before `before`; returns how many. */
  expirePending(before: Date): Promise<number>;
}

const UNIQUE_VIOLATION = 'P2002';

/** The proof value a member publishes: random, one per (domain, account). */
export function newProofToken(): string {
  return `udns-${crypto.randomBytes(24).toString('base64url')}`;
}

export function openDomainStore(db: StoreDatabase): DomainStore {
  const { prisma } = db;
  const table = prisma.customDomain;
  return {
    async claim(accountId, domain, label) {
      const existing = await table.findUnique({ where: { domain_accountId: { domain, accountId } } });
      if (existing !== null) {
        if (existing.label === label) return { row: existing, created: false };
        const row = await table.update({
          where: { id: existing.id },
          data: { label, verifiedAt: null, verifiedDomain: null, lastError: null, certPem: null, keyPem: null, certValidTo: null },
        });
        return { row, created: false };
      }
      if (await table.count({ where: { accountId } }) >= MAX_DOMAINS_PER_ACCOUNT) {
        throw new UdnsError('record_limit', `an account holds at most ${MAX_DOMAINS_PER_ACCOUNT} custom domains: remove one with \`udns domain remove <domain>\``);
      }
      try {
        const row = await table.create({ data: { domain, accountId, label, token: newProofToken(), createdAt: new Date() } });
        return { row, created: true };
      } catch (error) {
        // The same account claiming twice at once (two edges): the other insert won.
        if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
        const row = await table.findUnique({ where: { domain_accountId: { domain, accountId } } });
        if (row === null) throw error;
        return { row, created: false };
      }
    },
    get: (accountId, domain) => table.findUnique({ where: { domain_accountId: { domain, accountId } } }),
    list: (accountId) => table.findMany({ where: { accountId }, orderBy: { domain: 'asc' } }),
    async verifiedHolder(domain) {
      const row = await table.findUnique({ where: { verifiedDomain: domain }, select: { accountId: true } });
      return row?.accountId ?? null;
    },
    async markVerified(id, domain, now) {
      try {
        await table.update({ where: { id }, data: { verifiedDomain: domain, verifiedAt: now, checkedAt: now, lastError: null } });
      } catch (error) {
        if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw new UdnsError('name_taken', `${domain} is verified by another account`, { cause: error });
        throw error;
      }
    },
    async markFailed(id, reason, now, revoke) {
      await table.updateMany({
        where: { id },
        data: {
          lastError: reason,
          checkedAt: now,
          ...(revoke ? { verifiedAt: null, verifiedDomain: null, certPem: null, keyPem: null, certValidTo: null } : {}),
        },
      });
    },
    async markChecked(id, now) {
      await table.updateMany({ where: { id }, data: { checkedAt: now, lastError: null } });
    },
    async saveCertificate(id, certPem, keyPem, validTo) {
      // Only while still verified: a removal or revocation meanwhile wins.
      await table.updateMany({ where: { id, verifiedDomain: { not: null } }, data: { certPem, keyPem, certValidTo: validTo } });
    },
    async setChallenge(domain, token, keyAuthorization) {
      await table.updateMany({ where: { verifiedDomain: domain }, data: { acmeToken: token, acmeKeyAuth: keyAuthorization } });
    },
    async remove(accountId, domain) {
      const { count } = await table.deleteMany({ where: { domain, accountId } });
      return count > 0;
    },
    async verified() {
      return table.findMany({
        where: { verifiedDomain: { not: null } },
        select: { domain: true, accountId: true, label: true, certPem: true, keyPem: true, certValidTo: true, acmeToken: true, acmeKeyAuth: true },
      });
    },
    verifiedRows: () => table.findMany({ where: { verifiedDomain: { not: null } } }),
    async expirePending(before) {
      const { count } = await table.deleteMany({
        where: { verifiedDomain: null, OR: [{ checkedAt: null, createdAt: { lt: before } }, { checkedAt: { lt: before } }] },
      });
      return count;
    },
  };
}
