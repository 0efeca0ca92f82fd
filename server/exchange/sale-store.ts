import type { SaleEndReason, SaleState } from '../../protocol/index.js';
import { storeDatabase, type AccountStore, type StoreDatabase } from '../accounts/account-store.js';
import { Prisma, type PrismaClient } from '../accounts/generated/client.js';
import type { Tx } from '../ledger/ledger-tx.js';

/*
 * The Sale rows of the escrow (server/exchange/escrow.ts): the only SQL of server/exchange/.
 * A sale's state changes only by compare-and-set (`UPDATE … WHERE id = ? AND state = ?`) inside
 * the ledger's transaction, so two edges (or an edge and its own sweeper) racing on one sale
 * move it once: the loser's update touches no row and it rolls back its movements.
 */

/** One sale as the escrow works with it (numbers, parsed nothing). */
export interface SaleRecord {
  readonly id: string;
  readonly buyerId: number;
  readonly sellerId: number;
  readonly buyerKey: string;
  readonly share: string;
  readonly path: string;
  readonly price: number;
  readonly size: number;
  readonly plainSha256: string;
  readonly plainRoot: string;
  readonly cipherRoot: string | null;
  readonly sealKey: string | null;
  /** JSON of the signed statements. */
  readonly offer: string | null;
  readonly acceptance: string | null;
  readonly receipt: string | null;
  readonly state: SaleState;
  readonly reason: SaleEndReason | null;
  /** ms since the epoch. */
  readonly deadline: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** What a transition writes besides the new state. */
export interface SalePatch {
  readonly reason?: SaleEndReason | null;
  readonly deadline?: number;
  readonly cipherRoot?: string;
  readonly sealKey?: string;
  readonly offer?: string;
  readonly acceptance?: string;
  readonly receipt?: string;
}

/** The states a sale may still leave (the sweeper's and the re-sender's work). */
export const OPEN_STATES: readonly SaleState[] = ['offering', 'reserved', 'released'];

type Db = PrismaClient | Tx;

type SaleRow = {
  id: string; buyerId: number; sellerId: number; buyerKey: string; share: string; path: string;
  price: bigint; size: bigint; plainSha256: string; plainRoot: string; cipherRoot: string | null; sealKey: string | null;
  offer: string | null; acceptance: string | null; receipt: string | null; state: string; reason: string | null;
  deadline: bigint; createdAt: Date; updatedAt: Date;
};

function record(row: SaleRow): SaleRecord {
  return {
    ...row,
    price: Number(row.price),
    size: Number(row.size),
    state: row.state as SaleState,
    reason: row.reason as SaleEndReason | null,
    deadline: Number(row.deadline),
  };
}

const UNIQUE_VIOLATION = 'P2002';

export class SaleStore {
  readonly database: StoreDatabase;
  private readonly prisma: PrismaClient;

  constructor(store: AccountStore) {
    this.database = storeDatabase(store);
    this.prisma = this.database.prisma;
  }

  async get(id: string, db: Db = this.prisma): Promise<SaleRecord | null> {
    const row = await db.sale.findUnique({ where: { id } });
    return row === null ? null : record(row);
  }

  /**
   * How many of the buyer's sales of one share wait for an offer or an acceptance, and may still
   * get it: one past its deadline can neither be offered nor accepted any more (the sweeper ends
   * it, however far behind it runs).
   */
  async openCount(buyerId: number, share: string, nowMs: number): Promise<number> {
    return this.prisma.sale.count({ where: { buyerId, share, state: { in: ['offering', 'reserved'] }, deadline: { gt: BigInt(nowMs) } } });
  }

  async byBuyerKey(buyerId: number, buyerKey: string): Promise<SaleRecord | null> {
    const row = await this.prisma.sale.findUnique({ where: { buyerId_buyerKey: { buyerId, buyerKey } } });
    return row === null ? null : record(row);
  }

  /** Told every deadline this store writes (sale-sweeper.ts wakes up for it). */
  private readonly deadlineWatchers = new Set<(deadlineMs: number) => void>();

  /**
   * Calls `watcher` with every deadline written through this store (a new sale, a move with a
   * fresh deadline), as it is written: inside a transaction that may still roll back, so it
   * can only mean "look again then". Returns the unsubscribe.
   */
  watchDeadlines(watcher: (deadlineMs: number) => void): () => void {
    this.deadlineWatchers.add(watcher);
    return () => this.deadlineWatchers.delete(watcher);
  }

  private deadlineWritten(deadlineMs: number): void {
    for (const watcher of this.deadlineWatchers) watcher(deadlineMs);
  }

  /** The earliest deadline of an open sale (ms since the epoch), or null when none is open. */
  async nextDeadline(): Promise<number | null> {
    const { _min } = await this.prisma.sale.aggregate({ _min: { deadline: true }, where: { state: { in: [...OPEN_STATES] } } });
    return _min.deadline === null ? null : Number(_min.deadline);
  }

  /**
   * Inserts a new sale; false when the buyer already has one with this idempotency key (a
   * concurrent request won: read it with byBuyerKey).
   */
  async insert(db: Db, sale: Omit<SaleRecord, 'createdAt' | 'updatedAt' | 'cipherRoot' | 'sealKey' | 'offer' | 'acceptance' | 'receipt' | 'reason'>, now: Date): Promise<boolean> {
    this.deadlineWritten(sale.deadline);
    try {
      await db.sale.create({
        data: {
          id: sale.id, buyerId: sale.buyerId, sellerId: sale.sellerId, buyerKey: sale.buyerKey, share: sale.share, path: sale.path,
          price: BigInt(sale.price), size: BigInt(sale.size), plainSha256: sale.plainSha256, plainRoot: sale.plainRoot,
          state: sale.state, deadline: BigInt(sale.deadline), createdAt: now, updatedAt: now,
        },
      });
      return true;
    } catch (error) {
      if ((error as { code?: unknown }).code === UNIQUE_VIOLATION) return false;
      throw error;
    }
  }

  /**
   * Compare-and-set: moves sale `id` from `from` to `to` with `patch`, only while it is in `from`
   * and (when given) its deadline is after `before` / at or before `dueBy`. True when it moved.
   */
  async transition(tx: Tx, id: string, from: SaleState, to: SaleState, patch: SalePatch, now: Date, deadline?: { after?: number; dueBy?: number }): Promise<boolean> {
    // Plain SQL: it runs under the ledger lock, where a model query costs about four times the
    // CPU (server/ledger/credit-book.ts).
    const where = [Prisma.sql`"id" = ${id}`, Prisma.sql`"state" = ${from}`];
    if (deadline?.after !== undefined) where.push(Prisma.sql`"deadline" > ${BigInt(deadline.after)}`);
    if (deadline?.dueBy !== undefined) where.push(Prisma.sql`"deadline" <= ${BigInt(deadline.dueBy)}`);
    const set = [Prisma.sql`"state" = ${to}`, Prisma.sql`"updatedAt" = ${now}`];
    if (patch.reason !== undefined) set.push(Prisma.sql`"reason" = ${patch.reason}`);
    if (patch.deadline !== undefined) {
      set.push(Prisma.sql`"deadline" = ${BigInt(patch.deadline)}`);
      this.deadlineWritten(patch.deadline);
    }
    if (patch.cipherRoot !== undefined) set.push(Prisma.sql`"cipherRoot" = ${patch.cipherRoot}`);
    if (patch.sealKey !== undefined) set.push(Prisma.sql`"sealKey" = ${patch.sealKey}`);
    if (patch.offer !== undefined) set.push(Prisma.sql`"offer" = ${patch.offer}`);
    if (patch.acceptance !== undefined) set.push(Prisma.sql`"acceptance" = ${patch.acceptance}`);
    if (patch.receipt !== undefined) set.push(Prisma.sql`"receipt" = ${patch.receipt}`);
    const count = await tx.$executeRaw`UPDATE "Sale" SET ${Prisma.join(set, ', ')} WHERE ${Prisma.join(where, ' AND ')}`;
    return count === 1;
  }

  /** Stores the receipt of a sale the same transaction released. */
  async setReceipt(tx: Tx, id: string, receipt: string): Promise<void> {
    await tx.$executeRaw`UPDATE "Sale" SET "receipt" = ${receipt} WHERE "id" = ${id}`;
  }

  /** Open sales whose deadline is at or before `nowMs`, oldest deadline first. */
  async due(nowMs: number, limit: number): Promise<SaleRecord[]> {
    const rows = await this.prisma.sale.findMany({
      where: { state: { in: [...OPEN_STATES] }, deadline: { lte: BigInt(nowMs) } },
      orderBy: { deadline: 'asc' },
      take: limit,
    });
    return rows.map(record);
  }

  /** Sales waiting for an offer whose deadline is still ahead, oldest first. */
  async offering(nowMs: number, limit: number): Promise<SaleRecord[]> {
    const rows = await this.prisma.sale.findMany({ where: { state: 'offering', deadline: { gt: BigInt(nowMs) } }, orderBy: { deadline: 'asc' }, take: limit });
    return rows.map(record);
  }

  /**
   * A seller's sales of one share in `states` whose deadline is after `nowMs` (for re-sending
   * requests to a reconnected agent: a sale past its deadline is the sweeper's).
   */
  async ofShare(sellerId: number, share: string, states: readonly SaleState[], nowMs: number, limit: number): Promise<SaleRecord[]> {
    const rows = await this.prisma.sale.findMany({
      where: { sellerId, share, state: { in: [...states] }, deadline: { gt: BigInt(nowMs) } },
      orderBy: { createdAt: 'asc' },
      take: limit,
    });
    return rows.map(record);
  }

  /** Sales an account bought or sold, newest first. */
  async listFor(accountId: number, role: 'bought' | 'sold' | 'all', limit: number, before?: Date): Promise<SaleRecord[]> {
    const who = role === 'bought' ? { buyerId: accountId } : role === 'sold' ? { sellerId: accountId } : { OR: [{ buyerId: accountId }, { sellerId: accountId }] };
    const rows = await this.prisma.sale.findMany({
      where: { ...who, ...(before !== undefined ? { createdAt: { lt: before } } : {}) },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: limit,
    });
    return rows.map(record);
  }

  /** Account names by id (for views and statements). */
  async accountNames(ids: readonly number[]): Promise<Map<number, string>> {
    const rows = await this.prisma.account.findMany({ where: { id: { in: [...new Set(ids)] } }, select: { id: true, name: true } });
    return new Map(rows.map((row) => [row.id, row.name]));
  }

  /** Sum of the prices of reserved sales: what the escrow wallet must hold (tests, audit). */
  async reservedTotal(): Promise<number> {
    const rows = await this.prisma.sale.findMany({ where: { state: 'reserved' }, select: { price: true } });
    return rows.reduce((sum, row) => sum + Number(row.price), 0);
  }
}
