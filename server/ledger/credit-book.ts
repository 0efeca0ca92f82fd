import { createHash } from 'node:crypto';
import { canonicalJson } from '../../protocol/signing.js';
import { IdempotencyKey, MAX_AMOUNT } from '../../protocol/exchange.js';
import { MAX_CREDIT_MEMO } from '../../protocol/credits.js';
import { UdnsError } from '../../protocol/errors.js';
import { storeDatabase, type AccountStore } from '../accounts/account-store.js';
import { Prisma } from '../accounts/generated/client.js';
import type { LedgerLog } from './ledger-log.js';
import { ledgerTx, type Tx } from './ledger-tx.js';

/*
 * The books (issue 11): double-entry credits. Every wallet is one row with a balance; every
 * movement takes `amount` from one wallet and gives it to another in one transaction, with its
 * ledger entry. Only `issuance` goes below zero, so the sum of all wallets is always 0 and a
 * member's balance can never be negative (a conditional UPDATE here, and a CHECK constraint /
 * trigger in the database behind it).
 */

/** A wallet: a member's spendable credits, a seller's held proceeds, the escrow, or issuance. */
export type WalletRef = { member: number } | { held: number } | 'escrow' | 'issuance';
export type MovementKind = 'grant' | 'send' | 'reserve' | 'pay' | 'settle' | 'refund' | 'reclaim';

export interface MovementInput {
  /** Who asks: `member:<accountId>`, `operator` or `escrow`; the scope of idempotencyKey. */
  actor: string;
  idempotencyKey: string;
  kind: MovementKind;
  from: WalletRef;
  to: WalletRef;
  /** A positive safe integer ≤ MAX_AMOUNT. */
  amount: number;
  saleId?: string;
  memo?: string;
}

export interface MovementView {
  id: number;
  kind: MovementKind;
  /** Wallet keys: `member:<id>`, `held:<id>`, `escrow`, `issuance`. */
  from: string;
  to: string;
  amount: number;
  saleId: string | null;
  memo: string;
  createdAt: string;
  ledgerSeq: number;
}

export interface CreditBook {
  /** Inside a ledgerTx transaction. @throws UdnsError insufficient_credits, idempotency_conflict, bad_request */
  moveIn(tx: Tx, input: MovementInput): Promise<{ movement: MovementView; replayed: boolean }>;
  /** In its own ledgerTx transaction. */
  move(input: MovementInput): Promise<{ movement: MovementView; replayed: boolean }>;
  balances(accountId: number): Promise<{ available: number; held: number }>;
  /** Movements touching the account's member: or held: wallet, newest first, ids below `before`. */
  history(accountId: number, page: { limit: number; before?: number }): Promise<MovementView[]>;
  /** Sum of every wallet (must be 0) and the count: for tests and the audit. */
  totals(): Promise<{ sum: bigint; wallets: number }>;
  /** The account named `name` (for a send's receiver), or null. */
  accountNamed(name: string): Promise<{ id: number; name: string } | null>;
  /** The names of these accounts (those that still exist). */
  accountNames(ids: readonly number[]): Promise<Map<number, string>>;
}

/** The key of a wallet (its unique column). */
export function walletKey(ref: WalletRef): string {
  if (ref === 'escrow' || ref === 'issuance') return ref;
  return 'member' in ref ? `member:${ref.member}` : `held:${ref.held}`;
}

/** The member a wallet key belongs to (member:/held:), or null for the system wallets. */
export function walletAccount(key: string): number | null {
  const match = /^(?:member|held):([1-9][0-9]*)$/.exec(key);
  return match === null ? null : Number(match[1]);
}

/**
 * Movements of this process open at once. They run one at a time anyway (the ledger lock); more
 * would only hold pooled connections blocked on the lock, starving every other query of the
 * edge, and a burst of hundreds would wait past Prisma's transaction start timeout (P2028).
 */
export const MAX_OPEN_MOVES = 4;

const KINDS: ReadonlySet<string> = new Set<MovementKind>(['grant', 'send', 'reserve', 'pay', 'settle', 'refund', 'reclaim']);
const UNIQUE_VIOLATION = 'P2002';

/** Hex SHA-256 of the canonical parameters: a retry must ask for exactly the same movement. */
function requestHash(input: MovementInput): string {
  const parameters = {
    kind: input.kind, from: walletKey(input.from), to: walletKey(input.to), amount: input.amount,
    saleId: input.saleId ?? null, memo: input.memo ?? '',
  };
  return createHash('sha256').update(canonicalJson(parameters)).digest('hex');
}

function checkInput(input: MovementInput): void {
  if (!KINDS.has(input.kind)) throw new UdnsError('bad_request', `unknown movement kind "${String(input.kind)}"`);
  if (!Number.isSafeInteger(input.amount) || input.amount <= 0 || input.amount > MAX_AMOUNT) {
    throw new UdnsError('bad_request', `the amount must be a whole number of credits from 1 to ${MAX_AMOUNT}, got ${String(input.amount)}`);
  }
  if (!IdempotencyKey.safeParse(input.idempotencyKey).success) {
    throw new UdnsError('bad_request', 'the idempotency key must be 8-128 characters of letters, digits and ._:-');
  }
  if (input.actor.length === 0 || input.actor.length > 64) throw new UdnsError('bad_request', 'the actor must be 1-64 characters');
  if ((input.memo ?? '').length > MAX_CREDIT_MEMO) throw new UdnsError('bad_request', `the memo is longer than ${MAX_CREDIT_MEMO} characters`);
  if (walletKey(input.from) === walletKey(input.to)) throw new UdnsError('bad_request', 'a movement needs two different wallets');
}

type MovementRow = {
  id: number; kind: string; fromWalletId: number; toWalletId: number; amount: bigint; saleId: string | null;
  memo: string; createdAt: Date; ledgerSeq: number; requestHash: string;
};

function view(row: MovementRow, keys: ReadonlyMap<number, string>): MovementView {
  return {
    id: row.id, kind: row.kind as MovementKind, from: keys.get(row.fromWalletId) ?? '?', to: keys.get(row.toWalletId) ?? '?',
    amount: Number(row.amount), saleId: row.saleId, memo: row.memo, createdAt: row.createdAt.toISOString(), ledgerSeq: row.ledgerSeq,
  };
}

export function openCreditBook(store: AccountStore, ledger: LedgerLog): CreditBook {
  const db = storeDatabase(store);
  const { prisma } = db;
  // Wallet keys never change: id → key, filled as wallets are seen.
  const keyOf = new Map<number, string>();

  async function walletKeys(client: Tx | typeof prisma, ids: readonly number[]): Promise<Map<number, string>> {
    const missing = [...new Set(ids)].filter((id) => !keyOf.has(id));
    if (missing.length > 0) {
      for (const row of await client.wallet.findMany({ where: { id: { in: missing } }, select: { id: true, key: true } })) keyOf.set(row.id, row.key);
    }
    return keyOf;
  }

  // Wallet key → id of wallets known to be committed (wallets are never deleted): a movement
  // between known wallets skips looking them up, two round trips under the ledger lock. A wallet
  // made in a transaction that rolled back must not be remembered: one found in the database that
  // this transaction did not make was committed before it (writers take turns under the lock), and
  // move() adds the ones its transaction made after the commit.
  const committed = new Map<string, number>();
  /** Per transaction: the wallets it made (not committed yet). */
  const madeIn = new WeakMap<object, Map<string, number>>();

  function madeBy(tx: Tx): Map<string, number> {
    let made = madeIn.get(tx);
    if (made === undefined) madeIn.set(tx, made = new Map());
    return made;
  }

  async function wallet(tx: Tx, ref: WalletRef): Promise<number> {
    const key = walletKey(ref);
    const known = committed.get(key) ?? madeBy(tx).get(key);
    if (known !== undefined) return known;
    const found = await tx.wallet.findUnique({ where: { key }, select: { id: true } });
    if (found !== null) {
      keyOf.set(found.id, key);
      committed.set(key, found.id);
      return found.id;
    }
    // Lazily, inside the movement's transaction; the ledger lock means no one else creates it meanwhile.
    const row = await tx.wallet.create({ data: { key, accountId: walletAccount(key) }, select: { id: true } });
    keyOf.set(row.id, key);
    madeBy(tx).set(key, row.id);
    return row.id;
  }

  function moveIn(tx: Tx, input: MovementInput): Promise<{ movement: MovementView; replayed: boolean }> {
    return moveWithin(tx, input);
  }

  async function moveWithin(tx: Tx, input: MovementInput): Promise<{ movement: MovementView; replayed: boolean }> {
    checkInput(input);
    const hash = requestHash(input);
    // The statements under the ledger lock are plain SQL: each model query costs the edge about
    // four times the CPU of its raw form (Prisma's query compiler), and every writer waits for it.
    const replay = await tx.$queryRaw<Array<{ id: unknown }>>`SELECT "id" FROM "CreditMovement" WHERE "actor" = ${input.actor} AND "idempotencyKey" = ${input.idempotencyKey}`;
    const existing = replay.length === 0 ? null : await tx.creditMovement.findUnique({ where: { actor_idempotencyKey: { actor: input.actor, idempotencyKey: input.idempotencyKey } } });
    if (existing !== null) {
      if (existing.requestHash !== hash) {
        throw new UdnsError('idempotency_conflict', `the idempotency key "${input.idempotencyKey}" was used for another movement (movement ${existing.id}): use a new key for a new movement`);
      }
      return { movement: view(existing, await walletKeys(tx, [existing.fromWalletId, existing.toWalletId])), replayed: true };
    }
    const from = await wallet(tx, input.from);
    const to = await wallet(tx, input.to);
    const amount = BigInt(input.amount);
    // The debit only happens if it leaves the wallet at or above zero (issuance excepted); the
    // database's CHECK / trigger refuses a negative balance behind this, whatever the caller.
    const count = await tx.$executeRaw`UPDATE "Wallet" SET "balance" = "balance" - ${amount} WHERE "id" = ${from} AND ("balance" >= ${amount} OR "key" = 'issuance')`;
    if (count === 0) {
      const have = await tx.wallet.findUnique({ where: { id: from }, select: { balance: true } });
      const where = typeof input.from === 'object' && 'member' in input.from ? '' : ` in ${walletKey(input.from)}`;
      throw new UdnsError('insufficient_credits', `not enough credits: ${input.amount} asked, ${String(have?.balance ?? 0n)} available${where}`);
    }
    if (await tx.$executeRaw`UPDATE "Wallet" SET "balance" = "balance" + ${amount} WHERE "id" = ${to}` !== 1) {
      throw new UdnsError('internal', `wallet ${walletKey(input.to)} (id ${to}) is missing: the operator should run \`udns ledger audit\` beside the edge`);
    }
    const at = new Date();
    const saleId = input.saleId ?? null;
    const memo = input.memo ?? '';
    const body = {
      kind: 'credit' as const,
      at: at.getTime(),
      movement: {
        actor: input.actor, key: input.idempotencyKey, kind: input.kind, from: walletKey(input.from), to: walletKey(input.to),
        amount: input.amount, saleId, memo,
      },
    };
    const parties = [...new Set([walletAccount(walletKey(input.from)), walletAccount(walletKey(input.to))].filter((id): id is number => id !== null))];
    const [ledgerSeq] = await ledger.appendIn(tx, [{ kind: 'credit', body, parties }]);
    const [inserted] = await tx.$queryRaw<Array<{ id: number | bigint }>>`
      INSERT INTO "CreditMovement" ("actor", "idempotencyKey", "requestHash", "kind", "fromWalletId", "toWalletId", "amount", "saleId", "memo", "createdAt", "ledgerSeq")
      VALUES (${input.actor}, ${input.idempotencyKey}, ${hash}, ${input.kind}, ${from}, ${to}, ${amount}, ${saleId}, ${memo}, ${at}, ${ledgerSeq!})
      RETURNING "id"`;
    const row: MovementRow = {
      id: Number(inserted!.id), kind: input.kind, fromWalletId: from, toWalletId: to, amount, saleId, memo, createdAt: at, ledgerSeq: ledgerSeq!, requestHash: hash,
    };
    return { movement: view(row, keyOf), replayed: false };
  }

  let open = 0;
  const waiting: Array<() => void> = [];
  /** Runs `work` when fewer than MAX_OPEN_MOVES are open; a queue in memory, first come first served. */
  async function limited<T>(work: () => Promise<T>): Promise<T> {
    if (open < MAX_OPEN_MOVES) open++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await work();
    } finally {
      // The slot goes straight to the next in line, or is freed.
      const next = waiting.shift();
      if (next) next();
      else open--;
    }
  }

  async function move(input: MovementInput): Promise<{ movement: MovementView; replayed: boolean }> {
    let made = new Map<string, number>();
    const once = () => limited(() => ledgerTx(db, (tx) => {
      made = madeBy(tx);
      return moveWithin(tx, input);
    }));
    let result: { movement: MovementView; replayed: boolean };
    try {
      result = await once();
    } catch (error) {
      // Two writers with one key can only both get here without the lock (never, by design):
      // the loser then reads the winner's movement, or its conflict, in a transaction of its own.
      if ((error as { code?: unknown }).code !== UNIQUE_VIOLATION || !/idempotencyKey|actor/.test(JSON.stringify((error as { meta?: unknown }).meta ?? {}) + String((error as Error).message))) throw error;
      result = await once();
    }
    for (const [key, id] of made) committed.set(key, id);
    return result;
  }

  return {
    moveIn,
    move,

    async balances(accountId) {
      const rows = await prisma.wallet.findMany({ where: { key: { in: [`member:${accountId}`, `held:${accountId}`] } }, select: { key: true, balance: true } });
      const of = (key: string) => Number(rows.find((row) => row.key === key)?.balance ?? 0n);
      return { available: of(`member:${accountId}`), held: of(`held:${accountId}`) };
    },

    async history(accountId, page) {
      const wallets = await prisma.wallet.findMany({ where: { key: { in: [`member:${accountId}`, `held:${accountId}`] } }, select: { id: true, key: true } });
      if (wallets.length === 0) return [];
      for (const row of wallets) keyOf.set(row.id, row.key);
      const ids = wallets.map((row) => row.id);
      const rows = await prisma.creditMovement.findMany({
        where: {
          OR: [{ fromWalletId: { in: ids } }, { toWalletId: { in: ids } }],
          ...(page.before === undefined ? {} : { id: { lt: page.before } }),
        },
        orderBy: { id: 'desc' },
        take: page.limit,
      });
      const keys = await walletKeys(prisma, rows.flatMap((row) => [row.fromWalletId, row.toWalletId]));
      return rows.map((row) => view(row, keys));
    },

    async totals() {
      const [sum, wallets] = await Promise.all([prisma.wallet.aggregate({ _sum: { balance: true } }), prisma.wallet.count()]);
      return { sum: sum._sum.balance ?? 0n, wallets };
    },

    async accountNamed(name) {
      return prisma.account.findUnique({ where: { name: name.toLowerCase() }, select: { id: true, name: true } });
    },

    async accountNames(ids) {
      if (ids.length === 0) return new Map();
      const rows = await prisma.account.findMany({ where: { id: { in: [...new Set(ids)] } }, select: { id: true, name: true } });
      return new Map(rows.map((row) => [row.id, row.name]));
    },
  };
}
