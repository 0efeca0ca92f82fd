import { z } from 'zod';
import { UdnsError } from '../../protocol/index.js';
import { storeDatabase, type AccountStore } from '../accounts/account-store.js';
import type { PrismaClient } from '../accounts/generated/client.js';

/**
 * The operator's per-account limits, in the database (`AccountLimits`) so that every edge on it
 * applies them. For each field: null keeps the edge's default (config), 0 means unlimited for
 * this account, any other number is the limit.
 */
export const StoredLimits = z.object({
  /** Names the account may hold. */
  maxNames: z.number().int().min(0).max(1_000_000).nullable(),
  /** Bytes per second over all the account's routes (both directions together). */
  bandwidth: z.number().int().min(0).max(1e12).nullable(),
  /** Bytes per second for each route of the account. */
  routeBandwidth: z.number().int().min(0).max(1e12).nullable(),
  /** Concurrent visitor connections over all the account's routes, and per route. */
  maxVisitors: z.number().int().min(0).max(10_000_000).nullable(),
  routeMaxVisitors: z.number().int().min(0).max(10_000_000).nullable(),
}).strict();
export type StoredLimits = z.output<typeof StoredLimits>;

export const NO_OVERRIDES: StoredLimits = Object.freeze({ maxNames: null, bandwidth: null, routeBandwidth: null, maxVisitors: null, routeMaxVisitors: null });

/** The edge's defaults (config keys); undefined: unlimited. */
export interface QuotaDefaults {
  readonly maxNamesPerAccount?: number | undefined;
  readonly accountBandwidth?: number | undefined;
  readonly routeBandwidth?: number | undefined;
  readonly maxVisitorsPerAccount?: number | undefined;
  readonly maxVisitorsPerRoute?: number | undefined;
}

/** What applies to one account: null is unlimited. */
export interface EffectiveLimits {
  readonly maxNames: number | null;
  readonly bandwidth: number | null;
  readonly routeBandwidth: number | null;
  readonly maxVisitors: number | null;
  readonly routeMaxVisitors: number | null;
}

/** The account's override where it has one, else the edge's default. */
export function effectiveLimits(stored: StoredLimits, defaults: QuotaDefaults): EffectiveLimits {
  const pick = (own: number | null, fallback: number | undefined): number | null => (own === null ? fallback ?? null : own === 0 ? null : own);
  return {
    maxNames: pick(stored.maxNames, defaults.maxNamesPerAccount),
    bandwidth: pick(stored.bandwidth, defaults.accountBandwidth),
    routeBandwidth: pick(stored.routeBandwidth, defaults.routeBandwidth),
    maxVisitors: pick(stored.maxVisitors, defaults.maxVisitorsPerAccount),
    routeMaxVisitors: pick(stored.routeMaxVisitors, defaults.maxVisitorsPerRoute),
  };
}

export interface AccountLimitsStore {
  /** An account's overrides (all null when it has none). */
  get(accountId: number): Promise<StoredLimits>;
  /** The same by account name. @throws UdnsError `not_found` */
  getByName(accountName: string): Promise<StoredLimits>;
  /**
   * Changes the given fields of an account's overrides (the others stay).
   * @throws UdnsError `not_found` when there is no such account
   */
  set(accountName: string, changes: Partial<StoredLimits>): Promise<{ accountId: number; limits: StoredLimits }>;
  /** Names the account holds, and whether `label` is one of them. */
  names(accountId: number, label: string): Promise<{ count: number; owned: boolean }>;
}

export function openAccountLimits(store: AccountStore): AccountLimitsStore {
  return new PrismaAccountLimits(storeDatabase(store).prisma);
}

class PrismaAccountLimits implements AccountLimitsStore {
  constructor(private readonly prisma: PrismaClient) {}

  async get(accountId: number): Promise<StoredLimits> {
    const row = await this.prisma.accountLimits.findUnique({ where: { accountId } });
    return row === null ? NO_OVERRIDES : fromRow(row);
  }

  async getByName(accountName: string): Promise<StoredLimits> {
    const account = await this.prisma.account.findUnique({ where: { name: accountName }, select: { id: true } });
    if (account === null) throw new UdnsError('not_found', `no account "${accountName}": see udns account list`);
    return this.get(account.id);
  }

  async set(accountName: string, changes: Partial<StoredLimits>): Promise<{ accountId: number; limits: StoredLimits }> {
    const parsed = StoredLimits.partial().parse(changes);
    const account = await this.prisma.account.findUnique({ where: { name: accountName }, select: { id: true } });
    if (account === null) throw new UdnsError('not_found', `no account "${accountName}": see udns account list`);
    const data = {
      ...(parsed.maxNames !== undefined ? { maxNames: parsed.maxNames } : {}),
      ...(parsed.bandwidth !== undefined ? { bandwidth: parsed.bandwidth === null ? null : BigInt(parsed.bandwidth) } : {}),
      ...(parsed.routeBandwidth !== undefined ? { routeBandwidth: parsed.routeBandwidth === null ? null : BigInt(parsed.routeBandwidth) } : {}),
      ...(parsed.maxVisitors !== undefined ? { maxVisitors: parsed.maxVisitors } : {}),
      ...(parsed.routeMaxVisitors !== undefined ? { routeMaxVisitors: parsed.routeMaxVisitors } : {}),
      updatedAt: new Date(),
    };
    const row = await this.prisma.accountLimits.upsert({ where: { accountId: account.id }, create: { accountId: account.id, ...data }, update: data });
    return { accountId: account.id, limits: fromRow(row) };
  }

  async names(accountId: number, label: string): Promise<{ count: number; owned: boolean }> {
    const [count, owner] = await Promise.all([
      this.prisma.name.count({ where: { accountId } }),
      this.prisma.name.findUnique({ where: { label }, select: { accountId: true } }),
    ]);
    return { count, owned: owner?.accountId === accountId };
  }
}

function fromRow(row: { maxNames: number | null; bandwidth: bigint | null; routeBandwidth: bigint | null; maxVisitors: number | null; routeMaxVisitors: number | null }): StoredLimits {
  return {
    maxNames: row.maxNames,
    bandwidth: row.bandwidth === null ? null : Number(row.bandwidth),
    routeBandwidth: row.routeBandwidth === null ? null : Number(row.routeBandwidth),
    maxVisitors: row.maxVisitors,
    routeMaxVisitors: row.routeMaxVisitors,
  };
}
