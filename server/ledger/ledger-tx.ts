import type { StoreDatabase } from '../accounts/account-store.js';
import type { PrismaClient } from '../accounts/generated/client.js';

/** A Prisma interactive transaction's client. */
export type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

/** Any key, the same in every edge process: serializes the ledger's writers on PostgreSQL. */
export const LEDGER_LOCK_KEY = 0x75646e73_6c67; // "udnslg"
/** Attempts of one ledgerTx before its error is thrown. */
export const LEDGER_TX_ATTEMPTS = 5;
/** How long a ledgerTx may wait for the lock and then run. */
const TX_TIMEOUT_MS = 30_000;

/** Transactions that hold the ledger lock: LedgerLog.appendIn refuses any other. */
const locked = new WeakSet<object>();
/** Work a ledgerTx runs after `work` and before its commit (LedgerLog's buffered appends). */
const beforeCommit = new WeakMap<object, Array<() => Promise<void>>>();

/**
 * Runs `flush` inside `tx` once its work is done, just before the commit (in the order
 * registered): LedgerLog.appendIn writes a transaction's entries in one statement there instead
 * of one per call, every round trip under the lock being one that every other writer waits for.
 * @throws UdnsError internal when `tx` is not a ledgerTx
 */
export function runBeforeCommit(tx: Tx, flush: () => Promise<void>): void {
  const list = beforeCommit.get(tx);
  if (list === undefined) throw new Error('runBeforeCommit: not a ledgerTx transaction');
  list.push(flush);
}

/**
 * Runs `work` in one transaction holding the ledger lock, so every writer of the ledger and the
 * books (in this process and in every other edge on the same database) runs one at a time and
 * reads what the previous one wrote. PostgreSQL: `pg_advisory_xact_lock(LEDGER_LOCK_KEY)`,
 * released at commit. SQLite: a write that changes no row, which takes the database's write
 * lock before anything is read (SQLite's transactions start deferred: reading first would let
 * two processes read the same last entry, and the later writer would then fail instead of
 * waiting).
 *
 * Retries the whole of `work` on SQLITE_BUSY, a PostgreSQL serialization failure or deadlock
 * (P2034) and a lost append race (a unique violation on the ledger's seq or chainHash), up to
 * LEDGER_TX_ATTEMPTS times: `work` must do nothing outside the transaction that a second run
 * would repeat wrongly.
 */
export async function ledgerTx<T>(db: StoreDatabase, work: (tx: Tx) => Promise<T>): Promise<T> {
  const gate = gateOf(db.prisma);
  await gate.enter();
  try {
    return await attempts(db, work);
  } finally {
    gate.leave();
  }
}

async function attempts<T>(db: StoreDatabase, work: (tx: Tx) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.prisma.$transaction(async (tx) => {
        await takeLedgerLock(tx, db.dialect);
        locked.add(tx);
        const flushes: Array<() => Promise<void>> = [];
        beforeCommit.set(tx, flushes);
        const result = await work(tx);
        for (const flush of flushes) await flush();
        return result;
      }, { timeout: TX_TIMEOUT_MS, maxWait: TX_TIMEOUT_MS });
    } catch (error) {
      if (attempt >= LEDGER_TX_ATTEMPTS || !isRetryableLedgerError(error)) throw error;
    }
  }
}

/**
 * At most this many ledgerTx of one process wait on the lock at once (one holding it, one ready
 * behind it); the rest queue in memory. They run one at a time under the lock anyway, and a
 * burst of hundreds would otherwise hold every pooled PostgreSQL connection blocked on the
 * advisory lock, starving every other query and failing with P2028 once maxWait passes.
 */
const MAX_WAITING_ON_LOCK = 2;

class Gate {
  #inside = 0;
  readonly #queue: Array<() => void> = [];

  async enter(): Promise<void> {
    if (this.#inside < MAX_WAITING_ON_LOCK) {
      this.#inside++;
      return;
    }
    await new Promise<void>((resolve) => this.#queue.push(resolve));
  }

  leave(): void {
    const next = this.#queue.shift();
    // The slot passes straight to the next in line.
    if (next !== undefined) next();
    else this.#inside--;
  }
}

const gates = new WeakMap<object, Gate>();

function gateOf(client: object): Gate {
  let gate = gates.get(client);
  if (gate === undefined) {
    gate = new Gate();
    gates.set(client, gate);
  }
  return gate;
}

/** True when `tx` is a transaction ledgerTx opened (and so holds the ledger lock). */
export function holdsLedgerLock(tx: Tx): boolean {
  return locked.has(tx);
}

async function takeLedgerLock(tx: Tx, dialect: StoreDatabase['dialect']): Promise<void> {
  if (dialect === 'postgresql') await tx.$queryRawUnsafe(`SELECT pg_advisory_xact_lock(${LEDGER_LOCK_KEY})::text`);
  // LedgerHead's triggers fire only for rows, and WHERE 0 matches none.
  else await tx.$executeRawUnsafe(`UPDATE "LedgerHead" SET "treeSize" = "treeSize" WHERE 0`);
}

/** Busy database, write conflict or deadlock, or another writer took the seq we computed. */
export function isRetryableLedgerError(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; meta?: { target?: unknown; modelName?: unknown } } | null;
  const where = `${JSON.stringify(e?.meta ?? {})} ${String(e?.message)}`;
  if (e?.code === 'P2002') return /LedgerEntry|LedgerHead|chainHash|prevHash|"seq"|treeSize/.test(where);
  // The ledger's rows and the transfer records' chain are written with plain SQL (ledger-log.ts,
  // transfer-log.ts): a unique violation there is a raw query's error.
  if (e?.code === 'P2010') return /unique|23505|SQLITE_CONSTRAINT/i.test(where) && /LedgerEntry|LedgerParty|chainHash|prevHash|seq/.test(where);
  if (e?.code === 'P2034') return true;
  return /SQLITE_BUSY|database is locked/i.test(String(e?.message));
}
