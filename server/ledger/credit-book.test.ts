import { createRequire } from 'node:module';
import { expect, test } from 'vitest';
import pino from 'pino';
import { CreditEntryBody } from '../../protocol/ledger.js';
import { openAccountStore, type AccountStore } from '../accounts/account-store.js';
import { executeSql, findPostgresBinaries, queryRows, rejection, requirePostgresInCi, describeOnDatabases, type TestDatabase } from '../../test/helpers/test-databases.js';
import { openCreditBook, type CreditBook, type MovementInput } from './credit-book.js';
import { openLedgerLog, type LedgerLog } from './ledger-log.js';

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);

/** better-sqlite3 ships no types; the two calls used here. */
const Database = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => { exec(sql: string): void; close(): void };

/** Runs SQL as someone with the database in hand (SQLite's own message, not the adapter's). */
async function rawSql(db: TestDatabase, sql: string): Promise<void> {
  if (db.target.dialect === 'postgresql') return executeSql(db.target, sql);
  const connection = new Database(db.target.file);
  try {
    connection.exec(sql);
  } finally {
    connection.close();
  }
}

let serial = 0;
const key = (label = 'k') => `${label}-${++serial}-${Math.random().toString(36).slice(2, 10)}`;

describeOnDatabases('credit book on %s', ({ dialect, backend, open }) => {

  async function setUp(): Promise<{ store: AccountStore; ledger: LedgerLog; book: CreditBook; db: TestDatabase; alice: number; bob: number; carol: number }> {
    const db = await backend.fresh();
    const store = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    open.push(store);
    const ledger = await openLedgerLog(store, { dataDir: db.dataDir, logger: pino({ level: 'silent' }) });
    open.push(ledger);
    const book = openCreditBook(store, ledger);
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map(async (name) => (await store.createAccount(name)).account.id));
    return { store, ledger, book, db, alice: alice!, bob: bob!, carol: carol! };
  }

  const grant = (to: number, amount: number, idempotencyKey = key('grant')): MovementInput =>
    ({ actor: 'operator', idempotencyKey, kind: 'grant', from: 'issuance', to: { member: to }, amount });
  const send = (from: number, to: number, amount: number, idempotencyKey = key('send'), memo?: string): MovementInput =>
    ({ actor: `member:${from}`, idempotencyKey, kind: 'send', from: { member: from }, to: { member: to }, amount, memo });

  test('grant and send are double entry: balances, history both ways, one credit ledger entry each naming the members, all wallets sum to 0', async () => {
    const { book, ledger, db, alice, bob } = await setUp();
    const granted = await book.move(grant(alice, 1000));
    expect(granted.replayed).toBe(false);
    expect(granted.movement).toMatchObject({ kind: 'grant', from: 'issuance', to: `member:${alice}`, amount: 1000, saleId: null, memo: '' });
    const sent = await book.move(send(alice, bob, 250, key(), 'for the slides'));
    expect(sent.movement).toMatchObject({ kind: 'send', from: `member:${alice}`, to: `member:${bob}`, amount: 250, memo: 'for the slides' });
    expect(await book.balances(alice)).toEqual({ available: 750, held: 0 });
    expect(await book.balances(bob)).toEqual({ available: 250, held: 0 });
    expect(await book.totals()).toEqual({ sum: 0n, wallets: 3 });

    expect((await book.history(alice, { limit: 10 })).map((m) => m.id)).toEqual([sent.movement.id, granted.movement.id]);
    expect((await book.history(bob, { limit: 10 })).map((m) => m.id)).toEqual([sent.movement.id]);
    expect((await book.history(alice, { limit: 1 })).map((m) => m.id)).toEqual([sent.movement.id]);
    expect((await book.history(alice, { limit: 10, before: sent.movement.id })).map((m) => m.id)).toEqual([granted.movement.id]);

    // The ledger entry of the send: its body is the movement, and it concerns both members.
    const mine = await ledger.entriesOf(bob, { limit: 10 });
    expect(mine.map((e) => e.seq)).toEqual([sent.movement.ledgerSeq]);
    const body = CreditEntryBody.parse(JSON.parse(mine[0]!.body));
    expect(body.movement).toEqual({ actor: `member:${alice}`, key: expect.any(String), kind: 'send', from: `member:${alice}`, to: `member:${bob}`, amount: 250, saleId: null, memo: 'for the slides' });
    expect((await ledger.entriesOf(alice, { limit: 10 })).map((e) => e.seq)).toEqual([granted.movement.ledgerSeq, sent.movement.ledgerSeq]);
    const stored = await queryRows(db.target, 'SELECT COUNT(*) FROM "CreditMovement"');
    expect(Number(stored[0]![0])).toBe(2);
  });

  test('200 concurrent sends racing to overdraw: exactly the affordable ones move, no balance goes below 0, the sum stays 0', async () => {
    const { book, alice, bob, carol } = await setUp();
    await book.move(grant(alice, 1000));
    const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => book.move(send(alice, i % 2 === 0 ? bob : carol, 7))));
    const moved = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(moved).toHaveLength(Math.floor(1000 / 7));
    expect(new Set(refused.map((r) => (r.reason as { code?: string }).code))).toEqual(new Set(['insufficient_credits']));
    const a = await book.balances(alice);
    const b = await book.balances(bob);
    const c = await book.balances(carol);
    expect(a.available).toBe(1000 - 7 * 142);
    expect(b.available + c.available).toBe(7 * 142);
    expect((await book.totals()).sum).toBe(0n);
  }, 120_000);

  test('members sending to each other at once in a ring never lose or create a credit', async () => {
    const { book, alice, bob, carol } = await setUp();
    const members = [alice, bob, carol];
    for (const m of members) await book.move(grant(m, 100));
    await Promise.allSettled(Array.from({ length: 150 }, (_, i) => book.move(send(members[i % 3]!, members[(i + 1) % 3]!, 1 + (i % 9)))));
    const balances = await Promise.all(members.map((m) => book.balances(m)));
    expect(balances.reduce((sum, b) => sum + b.available, 0)).toBe(300);
    for (const b of balances) expect(b.available).toBeGreaterThanOrEqual(0);
    expect((await book.totals()).sum).toBe(0n);
  }, 120_000);

  test('a retry with the same key returns the same movement and moves once; 20 parallel calls with one key make one movement', async () => {
    const { book, alice, bob } = await setUp();
    await book.move(grant(alice, 100));
    const first = await book.move(send(alice, bob, 30, 'retry-key-1'));
    const again = await book.move(send(alice, bob, 30, 'retry-key-1'));
    expect(again).toEqual({ movement: first.movement, replayed: true });
    expect(await book.balances(alice)).toEqual({ available: 70, held: 0 });

    const racing = await Promise.all(Array.from({ length: 20 }, () => book.move(send(alice, bob, 5, 'parallel-key-1'))));
    expect(new Set(racing.map((r) => r.movement.id)).size).toBe(1);
    expect(racing.filter((r) => !r.replayed)).toHaveLength(1);
    expect(await book.balances(alice)).toEqual({ available: 65, held: 0 });
    expect(await book.balances(bob)).toEqual({ available: 35, held: 0 });
    expect(await book.history(bob, { limit: 10 })).toHaveLength(2);
  });

  test('the same key with another amount, receiver or memo is idempotency_conflict and moves nothing; the key is scoped by actor', async () => {
    const { book, alice, bob, carol } = await setUp();
    await book.move(grant(alice, 100));
    await book.move(grant(bob, 100));
    await book.move(send(alice, bob, 10, 'scoped-key-1'));
    for (const other of [send(alice, bob, 11, 'scoped-key-1'), send(alice, carol, 10, 'scoped-key-1'), send(alice, bob, 10, 'scoped-key-1', 'memo')]) {
      expect((await rejection(book.move(other))).code).toBe('idempotency_conflict');
    }
    expect(await book.balances(alice)).toEqual({ available: 90, held: 0 });
    expect(await book.balances(carol)).toEqual({ available: 0, held: 0 });
    // Bob's own key of the same text is his, not alice's.
    const bobs = await book.move(send(bob, alice, 10, 'scoped-key-1'));
    expect(bobs.replayed).toBe(false);
    expect(await book.balances(alice)).toEqual({ available: 100, held: 0 });
  });

  test('refused: more than the balance, zero, negative, fractions, past MAX_AMOUNT, one wallet to itself; nothing moves, no wallet or entry is left behind', async () => {
    const { book, ledger, alice, bob } = await setUp();
    await book.move(grant(alice, 50));
    const size = await ledger.size();
    const insufficient = await rejection(book.move(send(alice, bob, 51)));
    expect(insufficient.code).toBe('insufficient_credits');
    expect(insufficient.message).toMatch(/51 asked, 50 available/);
    // Bob has no wallet yet, so a refused send to an empty wallet: the same.
    expect((await rejection(book.move(send(bob, alice, 1)))).code).toBe('insufficient_credits');
    for (const amount of [0, -5, 1.5, Number.NaN, 1_000_000_000_001]) {
      expect((await rejection(book.move(send(alice, bob, amount)))).code).toBe('bad_request');
    }
    expect((await rejection(book.move(send(alice, alice, 1)))).code).toBe('bad_request');
    expect((await rejection(book.move(send(alice, bob, 1, 'short')))).code).toBe('bad_request');
    expect(await ledger.size()).toBe(size);
    expect(await book.balances(alice)).toEqual({ available: 50, held: 0 });
    expect(await book.totals()).toEqual({ sum: 0n, wallets: 2 });
  });

  test('escrow movements: reserve, pay into held, settle; held shows apart from available; issuance is the only wallet below zero', async () => {
    const { book, alice, bob } = await setUp();
    await book.move(grant(alice, 100));
    const sale = 'ab'.repeat(16);
    await book.move({ actor: 'escrow', idempotencyKey: `reserve:${sale}`, kind: 'reserve', from: { member: alice }, to: 'escrow', amount: 40, saleId: sale });
    await book.move({ actor: 'escrow', idempotencyKey: `pay:${sale}`, kind: 'pay', from: 'escrow', to: { held: bob }, amount: 40, saleId: sale });
    expect(await book.balances(bob)).toEqual({ available: 0, held: 40 });
    const history = await book.history(bob, { limit: 10 });
    expect(history.map((m) => [m.kind, m.from, m.to, m.saleId])).toEqual([['pay', 'escrow', `held:${bob}`, sale]]);
    await book.move({ actor: 'escrow', idempotencyKey: `settle:${sale}`, kind: 'settle', from: { held: bob }, to: { member: bob }, amount: 40, saleId: sale });
    expect(await book.balances(bob)).toEqual({ available: 40, held: 0 });
    expect((await rejection(book.move({ actor: 'escrow', idempotencyKey: `settle2:${sale}`, kind: 'settle', from: { held: bob }, to: { member: bob }, amount: 1, saleId: sale }))).code).toBe('insufficient_credits');
    expect((await book.totals()).sum).toBe(0n);
  });

  test('the database itself refuses a negative member balance and an edited or deleted movement (plain SQL, past the book)', async () => {
    const { book, db, alice } = await setUp();
    await book.move(grant(alice, 10));
    await expect(rawSql(db, `UPDATE "Wallet" SET "balance" = -1 WHERE "key" = 'member:${alice}'`)).rejects.toThrow(/below zero|Wallet_balance_not_negative|check constraint/i);
    await expect(rawSql(db, 'UPDATE "CreditMovement" SET "amount" = 5')).rejects.toThrow();
    await expect(rawSql(db, 'DELETE FROM "CreditMovement"')).rejects.toThrow();
    expect(await book.balances(alice)).toEqual({ available: 10, held: 0 });
    // Issuance may go below zero: that is where granted credits come from.
    const rows = await queryRows(db.target, `SELECT "balance" FROM "Wallet" WHERE "key" = 'issuance'`);
    expect(Number(rows[0]![0])).toBe(-10);
  });

  test('throughput: sequential sends per second (printed, not asserted)', async () => {
    const { book, alice, bob } = await setUp();
    await book.move(grant(alice, 1_000_000));
    const count = 150;
    const started = performance.now();
    for (let i = 0; i < count; i++) await book.move(send(alice, bob, 1));
    const sequential = count / ((performance.now() - started) / 1000);
    const startedParallel = performance.now();
    await Promise.all(Array.from({ length: count }, () => book.move(send(alice, bob, 1))));
    const parallel = count / ((performance.now() - startedParallel) / 1000);
    console.log(`credit book on ${dialect}: ${sequential.toFixed(0)} sends/s sequential, ${parallel.toFixed(0)} sends/s with ${count} at once`);
    expect(await book.balances(bob)).toEqual({ available: 2 * count, held: 0 });
  }, 120_000);
});
