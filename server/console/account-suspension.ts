import { UdnsError } from '../../protocol/index.js';
import { storeDatabase, type AccountStore } from '../accounts/account-store.js';
import type { PrismaClient } from '../accounts/generated/client.js';
import type { DnsRecordInfo } from '../accounts/record-store.js';
import { ADMIN_ACCOUNT_NAME } from '../admin-token-handover.js';
import type { Logger } from '../logger.js';
import type { NameDirectory } from '../name-directory.js';
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js';
import type { ConsoleSessions } from './console-sessions.js';

/** An account as the console shows it. */
export interface ConsoleAccount {
  readonly id: number;
  readonly name: string;
  readonly createdAt: Date;
  /** When the operator suspended it; null while it is in good standing. */
  readonly suspendedAt: Date | null;
}

/** What a suspended agent is told: `unauthorized`, so it stops instead of reconnecting. */
export function suspendedError(account: string): UdnsError {
  return new UdnsError('unauthorized', `account suspended: the operator of this edge suspended the account ${account}; ask them to lift it`);
}

const fields = { id: true, name: true, createdAt: true, suspendedAt: true } as const;

/**
 * The operator's suspension of an account. The flag lives in the database (Account.suspendedAt),
 * which the account store's token check reads: the account's tokens stop authenticating on
 * every edge at once (API, tunnel, dyndns2), live tunnels on other edges end at their next token
 * recheck, and this edge ends its tunnels and console sessions right away. Its names answer
 * "offline" (no tunnel may serve them) and the records it set leave this edge's DNS until the
 * suspension is lifted (other edges drop them at their next start).
 */
export class AccountSuspension {
  private readonly prisma: PrismaClient;

  constructor(
    private readonly store: AccountStore,
    private readonly registry: Pick<TunnelRegistry, 'closeAccount'>,
    private readonly sessions: Pick<ConsoleSessions, 'endAll'>,
    private readonly logger: Logger,
    /** The DNS view: a suspended account's records are taken out of it; absent: DNS is left alone. */
    private readonly directory?: Pick<NameDirectory, 'setRecordsAt'>,
  ) {
    this.prisma = storeDatabase(store).prisma;
  }

  /** At the edge's start: the records of accounts suspended earlier (or by another edge) leave DNS. */
  async hideSuspendedRecords(): Promise<void> {
    const suspended = await this.prisma.account.findMany({ where: { suspendedAt: { not: null } }, select: { id: true } });
    for (const { id } of suspended) await this.showRecords(id, false);
  }

  account(id: number): Promise<ConsoleAccount | null> {
    return this.prisma.account.findUnique({ where: { id }, select: fields });
  }

  listAccounts(): Promise<ConsoleAccount[]> {
    return this.prisma.account.findMany({ select: fields, orderBy: { id: 'asc' } });
  }

  /**
   * Suspends `name`: tokens refused, tunnels ended (`unauthorized`, "account suspended"),
   * console sessions and codes deleted. Suspending a suspended account changes nothing.
   * @throws UdnsError `not_found` for an unknown account, `forbidden` for the operator's own
   */
  async suspend(name: string): Promise<ConsoleAccount> {
    if (name === ADMIN_ACCOUNT_NAME) throw new UdnsError('forbidden', `the ${ADMIN_ACCOUNT_NAME} account cannot be suspended: it is the operator's own`);
    const account = await this.require(name);
    // The suspendedAt condition keeps the first time if two operators race.
    await this.prisma.account.updateMany({ where: { id: account.id, suspendedAt: null }, data: { suspendedAt: new Date() } });
    await this.sessions.endAll(account.id);
    await this.showRecords(account.id, false);
    const tunnels = this.registry.closeAccount(account.id, suspendedError(account.name));
    this.logger.warn({ account: account.name, tunnels }, 'account suspended by the operator');
    return this.require(name);
  }

  /** Lifts a suspension: the account's tokens work again (its agents must be started again). @throws UdnsError `not_found` */
  async unsuspend(name: string): Promise<ConsoleAccount> {
    const account = await this.require(name);
    await this.prisma.account.updateMany({ where: { id: account.id }, data: { suspendedAt: null } });
    await this.showRecords(account.id, true);
    this.logger.warn({ account: account.name }, 'account suspension lifted by the operator');
    return this.require(name);
  }

  /** Puts an account's records into this edge's DNS view, or takes them out. */
  private async showRecords(accountId: number, shown: boolean): Promise<void> {
    if (this.directory === undefined) return;
    const byOwner = new Map<string, Array<{ type: DnsRecordInfo['type']; value: string; ttl: number }>>();
    for (const record of await this.store.listRecords(accountId)) {
      const list = byOwner.get(record.owner) ?? [];
      if (shown) list.push({ type: record.type, value: record.value, ttl: record.ttl });
      byOwner.set(record.owner, list);
    }
    for (const [owner, records] of byOwner) this.directory.setRecordsAt(owner, records);
  }

  private async require(name: string): Promise<ConsoleAccount> {
    const account = await this.prisma.account.findUnique({ where: { name }, select: fields });
    if (account === null) throw new UdnsError('not_found', `no account ${JSON.stringify(name.slice(0, 40))}`);
    return account;
  }
}
