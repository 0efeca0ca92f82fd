import pino from 'pino';
import { expect, test } from 'vitest';
import { LEDGER_GENESIS_CHAIN, ledgerChainHash, ledgerLeafHash } from '../../protocol/ledger.js';
import { openAccountStore, storeDatabase, type AccountStore } from '../accounts/account-store.js';
import { executeSql, findPostgresBinaries, queryRows, requirePostgresInCi, describeOnDatabases, type TestDatabase } from '../../test/helpers/test-databases.js';
import { openCreditBook } from './credit-book.js';
import { auditLedger, formatProblem, type AuditMemory, type AuditReport } from './ledger-audit.js';
import { openLedgerLog, type LedgerLog } from './ledger-log.js';
import { ledgerTx } from './ledger-tx.js';

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);
const logger = pino({ level: 'silent' });

/** The append-only triggers of the migration, as someone with the database in hand would drop them. */
const DROP_TRIGGERS = {
  sqlite: ['CreditMovement', 'LedgerEntry', 'LedgerParty', 'LedgerHead']
    .map((table) => `DROP TRIGGER "${table}_no_update"; DROP TRIGGER "${table}_no_delete";`).join(' '),
  postgresql: ['CreditMovement', 'LedgerEntry', 'LedgerParty', 'LedgerHead']
    .map((table) => `DROP TRIGGER "${table}_no_update_delete" ON "${table}";`).join(' '),
};

describeOnDatabases('ledger audit on %s', ({ dialect, backend, open }) => {

  /**
   * A small history: the edge key (seq 0), grants and sends between alice and bob (credit entries
   * with their movements), ratings, and a signed head after every few entries.
   */
  async function history(): Promise<{ store: AccountStore; ledger: LedgerLog; db: TestDatabase; audit: (previous?: AuditMemory | null) => Promise<{ report: AuditReport; memory: AuditMemory }> }> {
    let now = 1_764_000_000_000;
    const db = await backend.fresh();
    const store = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    open.push(store);
    const ledger = await openLedgerLog(store, { dataDir: db.dataDir, logger, now: () => now });
    open.push(ledger);
    const credits = openCreditBook(store, ledger);
    const alice = (await store.createAccount('alice')).account.id;
    const bob = (await store.createAccount('bob')).account.id;
    for (let i = 0; i < 4; i++) {
      await credits.move({ actor: 'operator', idempotencyKey: `grant-${i}-alice`, kind: 'grant', from: 'issuance', to: { member: alice }, amount: 100 });
      await credits.move({ actor: `member:${alice}`, idempotencyKey: `send-${i}-to-bob`, kind: 'send', from: { member: alice }, to: { member: bob }, amount: 30 + i, memo: `lunch ${i}` });
      await ledgerTx(storeDatabase(store), (tx) => ledger.appendIn(tx, [{
        kind: 'rating', body: { saleId: i.toString(16).padStart(32, '0'), rater: bob, seller: alice, score: 4, comment: '' }, parties: [bob, alice],
      }]));
      now += 1_000;
      await ledger.head();
    }
    return { store, ledger, db, audit: (previous) => auditLedger(storeDatabase(store), { previous }) };
  }

  async function tamper(db: TestDatabase, sql: string): Promise<void> {
    await executeSql(db.target, `${DROP_TRIGGERS[dialect]} ${sql}`);
  }

  function firstProblem(report: AuditReport): string {
    expect(report.ok).toBe(false);
    return formatProblem(report.problems[0]!);
  }

  /** The seq of the n-th movement's ledger entry. */
  async function movementSeq(db: TestDatabase, id: number): Promise<number> {
    return Number((await queryRows(db.target, `SELECT "ledgerSeq" FROM "CreditMovement" WHERE "id" = ${id}`))[0]![0]);
  }

  test('an untouched history passes: entries, heads, books and parties add up', async () => {
    const { audit } = await history();
    const { report, memory } = await audit();
    expect(report).toMatchObject({ ok: true, entries: 13, heads: 4, movements: 8, wallets: 3, walletSum: '0', problems: [] });
    expect(memory.heads.map(([size]) => size)).toEqual([4, 7, 10, 13]);
  }, 60_000);

  test('an edited body is named by its seq', async () => {
    const { db, audit } = await history();
    await tamper(db, `UPDATE "LedgerEntry" SET "body" = REPLACE("body", '"score":4', '"score":5') WHERE "seq" = 6`);
    expect(firstProblem((await audit()).report)).toMatch(/^seq 6: the body does not match its leaf hash/);
  }, 60_000);

  test('an edited body re-hashed and re-chained from there on is caught by the signed heads', async () => {
    const { db, audit } = await history();
    const rows = await queryRows(db.target, `SELECT "seq", "body", "leafHash" FROM "LedgerEntry" ORDER BY "seq"`) as Array<[number, string, string]>;
    let chain = LEDGER_GENESIS_CHAIN;
    const updates: string[] = [];
    for (const [seq, body, leaf] of rows) {
      const newBody = Number(seq) === 6 ? body.replace('"score":4', '"score":1') : body;
      const newLeaf = Number(seq) === 6 ? ledgerLeafHash(newBody) : leaf;
      chain = ledgerChainHash(chain, newLeaf);
      updates.push(`UPDATE "LedgerEntry" SET "body" = '${newBody}', "leafHash" = '${newLeaf}', "chainHash" = 'x${seq}' WHERE "seq" = ${seq};`);
      updates.push(`UPDATE "LedgerEntry" SET "chainHash" = '${chain}' WHERE "seq" = ${seq};`);
    }
    await tamper(db, updates.join(' '));
    expect(firstProblem((await audit()).report)).toMatch(/^seq 6: the signed head of size 7 does not match the entries below it/);
  }, 60_000);

  test('an amount edited in the books is named by the seq of the movement\'s entry', async () => {
    const { db, audit } = await history();
    const seq = await movementSeq(db, 4);
    await tamper(db, `UPDATE "CreditMovement" SET "amount" = "amount" + 10 WHERE "id" = 4`);
    const { report } = await audit();
    expect(firstProblem(report)).toBe(`seq ${seq}: movement #4 does not match its entry: amount 41 in the books, 31 in the ledger`);
    expect(report.problems.map(formatProblem)).toEqual(expect.arrayContaining([
      expect.stringMatching(/^wallet member:\d+: balance \d+, its movements add up to/),
    ]));
  }, 60_000);

  test('a deleted entry is named', async () => {
    const { db, audit } = await history();
    await tamper(db, `DELETE FROM "LedgerEntry" WHERE "seq" = 5`);
    expect(firstProblem((await audit()).report)).toMatch(/^seq 5: missing \(deleted\?\): the next stored entry is seq 6/);
  }, 60_000);

  test('two swapped entries are named by the first of them', async () => {
    const { db, audit } = await history();
    await tamper(db, `UPDATE "LedgerEntry" SET "seq" = -1 WHERE "seq" = 8; UPDATE "LedgerEntry" SET "seq" = 8 WHERE "seq" = 9; UPDATE "LedgerEntry" SET "seq" = 9 WHERE "seq" = -1;`);
    expect(firstProblem((await audit()).report)).toMatch(/^seq 8: the chain hash does not follow the entry before it/);
  }, 60_000);

  test('a deleted head is noticed by the next audit', async () => {
    const { db, audit } = await history();
    const { memory } = await audit();
    await tamper(db, `DELETE FROM "LedgerHead" WHERE "treeSize" = 7`);
    expect(firstProblem((await audit(memory)).report)).toMatch(/^seq 6: the signed head of size 7 \(.+\) that the last audit saw is gone/);
  }, 60_000);

  test('a forged head is named', async () => {
    const { db, audit } = await history();
    const [[signature]] = await queryRows(db.target, `SELECT "signature" FROM "LedgerHead" WHERE "treeSize" = 4`) as [[string]];
    await tamper(db, `UPDATE "LedgerHead" SET "signature" = '${signature}' WHERE "treeSize" = 10`);
    expect(firstProblem((await audit()).report)).toMatch(/^seq 9: the signature of the head of size 10 does not verify/);
  }, 60_000);

  test('a head signed by a key the ledger never recorded is named', async () => {
    const { db, audit } = await history();
    await tamper(db, `INSERT INTO "LedgerHead" ("treeSize", "rootHash", "timestamp", "keyId", "signature") VALUES (12, '${'ab'.repeat(32)}', 1764000009000, '${'cd'.repeat(16)}', 'AAAA')`);
    expect(firstProblem((await audit()).report)).toMatch(/^seq 11: the signed head of size 12 does not match/);
  }, 60_000);
});
