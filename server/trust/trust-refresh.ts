import type { TrustView } from '../../protocol/exchange.js';
import type { StoreDatabase } from '../accounts/account-store.js';
import type { Logger } from '../logger.js';
import { trustScores, type TrustGrant, type TrustPurchase, type TrustRating } from './trust-score.js';

/*
 * TrustScore rows are derived state: recomputed from the books (sales, ratings, grants) by
 * trust-score.ts every REFRESH_INTERVAL_MS and after each rating. Any edge may rebuild them;
 * two edges doing it at once write the same rows (upserts), so no lock is needed.
 */

export const TRUST_REFRESH_INTERVAL_MS = 60_000;

/** What a refresh writes per rated seller. */
export interface TrustRefresher {
  /** Recomputes every score now (runs after a refresh in progress, once for any number of callers). */
  refresh(): Promise<void>;
  /** Asks for a refresh soon without waiting for it (after a rating). */
  schedule(): void;
  /** The stored trust of one account (no score before any counted rating or lost dispute). */
  trustOf(accountId: number): Promise<TrustView>;
  close(): Promise<void>;
}

/** Reads the books' inputs of the score. */
export async function readTrustInputs(db: StoreDatabase): Promise<{ purchases: TrustPurchase[]; ratings: TrustRating[]; grants: TrustGrant[] }> {
  const { prisma } = db;
  const sales = await prisma.sale.findMany({
    where: { OR: [{ state: { in: ['released', 'settled'] } }, { state: 'refunded', reason: 'proof upheld' }] },
    select: { buyerId: true, sellerId: true, price: true, state: true },
  });
  const purchases = sales.map((sale): TrustPurchase => ({
    buyer: sale.buyerId, seller: sale.sellerId, amount: Number(sale.price), settled: sale.state === 'settled', disputed: sale.state === 'refunded',
  }));
  // Only ratings of purchases that still stand: a purchase refunded after a proof has none.
  const rows = await prisma.$queryRawUnsafe<Array<{ buyerId: unknown; sellerId: unknown; score: unknown }>>(
    `SELECT r."buyerId", r."sellerId", r."score" FROM "Rating" r JOIN "Sale" s ON s."id" = r."saleId" WHERE s."state" IN ('released', 'settled')`,
  );
  const ratings = rows.map((row): TrustRating => ({ rater: Number(row.buyerId), seller: Number(row.sellerId), score: Number(row.score) }));
  const granted = await prisma.$queryRawUnsafe<Array<{ accountId: unknown; amount: unknown }>>(
    `SELECT w."accountId", SUM(m."amount") AS "amount" FROM "CreditMovement" m JOIN "Wallet" w ON w."id" = m."toWalletId"
     WHERE m."kind" = 'grant' AND w."key" LIKE 'member:%' AND w."accountId" IS NOT NULL GROUP BY w."accountId"`,
  );
  const grants = granted.map((row): TrustGrant => ({ account: Number(row.accountId), amount: Number(row.amount) }));
  return { purchases, ratings, grants };
}

/** Recomputes and stores every seller's TrustScore; removes rows of sellers with nothing counted any more. */
export async function refreshTrustScores(db: StoreDatabase, now: () => number = Date.now): Promise<number> {
  const result = trustScores(await readTrustInputs(db));
  const { prisma } = db;
  const updatedAt = new Date(now());
  // In account order: two edges refreshing at once lock the rows in the same order (no deadlock).
  const sellers = [...result.sellers].sort(([a], [b]) => a - b);
  await prisma.$transaction(async (tx) => {
    for (const [accountId, trust] of sellers) {
      const data = { score: trust.score, ratings: trust.ratings, weight: trust.weight, disputesLost: trust.disputesLost, updatedAt };
      await tx.trustScore.upsert({ where: { accountId }, create: { accountId, ...data }, update: data });
    }
    await tx.trustScore.deleteMany({ where: { accountId: { notIn: sellers.map(([accountId]) => accountId) } } });
  }, { timeout: 60_000, maxWait: 30_000 });
  return sellers.length;
}

/** The trust view of a stored row (or of none). */
export function trustViewOf(row: { score: number; ratings: number; disputesLost: number } | null): TrustView {
  if (row === null || (row.ratings === 0 && row.disputesLost === 0)) return { score: null, ratings: row?.ratings ?? 0, disputesLost: row?.disputesLost ?? 0 };
  return { score: Math.round(row.score * 10) / 10, ratings: row.ratings, disputesLost: row.disputesLost };
}

/** Starts the periodic refresh (the first one at once). */
export function startTrustRefresh(db: StoreDatabase, options: { logger: Logger; intervalMs?: number; now?: () => number }): TrustRefresher {
  const { logger } = options;
  let current: Promise<void> | null = null;
  let queued: Promise<void> | null = null;
  let closed = false;

  const once = async (): Promise<void> => {
    if (closed) return;
    const started = performance.now();
    try {
      const sellers = await refreshTrustScores(db, options.now);
      logger.debug({ sellers, ms: Math.round(performance.now() - started) }, 'trust scores refreshed');
    } catch (error) {
      if (!closed) logger.warn({ err: error }, 'trust scores not refreshed: the last ones stay until the next try');
    }
  };
  const start = (): Promise<void> => {
    current = once().finally(() => {
      current = null;
    });
    return current;
  };
  /** One run at a time; a call during a run waits for the next one, which sees what the caller wrote. */
  const refresh = (): Promise<void> => {
    if (queued !== null) return queued;
    if (current !== null) {
      queued = current.then(() => {
        queued = null;
        return start();
      });
      return queued;
    }
    return start();
  };

  const timer = setInterval(() => void refresh(), options.intervalMs ?? TRUST_REFRESH_INTERVAL_MS);
  timer.unref();
  void refresh();

  return {
    refresh,
    schedule() {
      if (!closed) void refresh();
    },
    async trustOf(accountId) {
      const row = await db.prisma.trustScore.findUnique({ where: { accountId }, select: { score: true, ratings: true, disputesLost: true } });
      return trustViewOf(row);
    },
    async close() {
      closed = true;
      clearInterval(timer);
      await queued;
      await current;
    },
  };
}
