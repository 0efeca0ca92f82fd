import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { expect, test } from 'vitest';
import { LEDGER_GENESIS_CHAIN, ledgerChainHash, ledgerLeafHash, verifyTreeHead, type SignedTreeHead } from '../../protocol/ledger.js';
import { verifyConsistency, verifyInclusion } from '../../protocol/merkle.js';
import { openAccountStore, storeDatabase, type AccountStore } from '../accounts/account-store.js';
import { findPostgresBinaries, queryRows, rejection, requirePostgresInCi, describeOnDatabases, type TestDatabase } from '../../test/helpers/test-databases.js';
import { openTransferLog, type TransferInput } from '../transfers/transfer-log.js';
import { openLedgerLog, type LedgerAppend, type LedgerLog } from './ledger-log.js';
import { LEDGER_KEY_FILE } from './ledger-signer.js';
import { ledgerTx } from './ledger-tx.js';

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);
const logger = pino({ level: 'silent' });

/** A clock the test moves: heads are at most one per second. */
function clock(start = 1_764_000_000_000): { now: () => number; advance(ms: number): void } {
  let now = start;
  return { now: () => now, advance: (ms) => { now += ms; } };
}

let serial = 0;
function ratingEntry(rater: number, seller: number): LedgerAppend {
  serial++;
  return { kind: 'rating', body: { saleId: serial.toString(16).padStart(32, '0'), rater, seller, score: 4, comment: `nice ${serial}` }, parties: [rater, seller] };
}

describeOnDatabases('ledger log on %s', ({ dialect, backend, open }) => {

  async function setUp(now = clock().now): Promise<{ store: AccountStore; ledger: LedgerLog; db: TestDatabase; alice: number; bob: number }> {
    const db = await backend.fresh();
    const store = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    open.push(store);
    const ledger = await openLedgerLog(store, { dataDir: db.dataDir, logger, now });
    open.push(ledger);
    const alice = (await store.createAccount('alice')).account.id;
    const bob = (await store.createAccount('bob')).account.id;
    return { store, ledger, db, alice, bob };
  }

  async function append(store: AccountStore, ledger: LedgerLog, entries: LedgerAppend[]): Promise<number[]> {
    return ledgerTx(storeDatabase(store), (tx) => ledger.appendIn(tx, entries));
  }

  test('the first entry is the edge\'s key; appends number densely, chain, hash the canonical body and name their parties', async () => {
    const { store, ledger, db, alice, bob } = await setUp();
    expect(await ledger.size()).toBe(1);
    expect(await append(store, ledger, [ratingEntry(alice, bob), ratingEntry(bob, alice)])).toEqual([1, 2]);
    expect(await append(store, ledger, [ratingEntry(alice, bob)])).toEqual([3]);
    const rows = await queryRows(db.target, `SELECT "seq", "kind", "body", "leafHash", "chainHash" FROM "LedgerEntry" ORDER BY "seq"`);
    let chain = LEDGER_GENESIS_CHAIN;
    rows.forEach((row, index) => {
      const [seq, , body, leaf, chainHash] = row as [number, string, string, string, string];
      expect(Number(seq)).toBe(index);
      expect(leaf).toBe(ledgerLeafHash(body));
      chain = ledgerChainHash(chain, leaf);
      expect(chainHash).toBe(chain);
    });
    const key = JSON.parse(String(rows[0]![2]));
    expect(key).toMatchObject({ kind: 'key', account: 'edge', keyId: ledger.publicKey().keyId, publicKey: ledger.publicKey().publicKey });
    expect(JSON.parse(String(rows[1]![2]))).toMatchObject({ kind: 'rating', rater: alice, seller: bob, at: 1_764_000_000_000 });
    expect(await ledger.entriesOf(alice, { limit: 10 })).toEqual([1, 2, 3].map((seq) => ({ seq, body: rows[seq]![2] })));
    expect(await ledger.entriesOf(alice, { after: 1, below: 3, limit: 10 })).toEqual([{ seq: 2, body: rows[2]![2] }]);
  });

  test('appendIn refuses a body protocol/ledger.ts does not describe, and any call outside ledgerTx', async () => {
    const { store, ledger, alice } = await setUp();
    const db = storeDatabase(store);
    expect(await rejection(ledgerTx(db, (tx) => ledger.appendIn(tx, [{ kind: 'rating', body: { rater: alice, score: 9 }, parties: [alice] }]))))
      .toMatchObject({ code: 'internal', message: expect.stringMatching(/rating ledger entry does not match/) });
    expect(await rejection(db.prisma.$transaction((tx) => ledger.appendIn(tx, [ratingEntry(alice, alice)]))))
      .toMatchObject({ code: 'internal', message: expect.stringMatching(/only inside ledgerTx/) });
    expect(await ledger.size()).toBe(1);
  });

  test('the key file is 0600, made once and reused; its key entry is appended once', async () => {
    const { store, ledger, db } = await setUp();
    const file = path.join(db.dataDir, LEDGER_KEY_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const again = await openLedgerLog(store, { dataDir: db.dataDir, logger });
    open.push(again);
    expect(again.publicKey()).toEqual(ledger.publicKey());
    expect(await again.size()).toBe(1);
  });

  test('concurrent appends from two edges stay dense and chained', async () => {
    const { store, ledger, db, alice, bob } = await setUp();
    let other = { store, ledger };
    if (dialect === 'postgresql') {
      // A second edge process: its own pool. (On SQLite two connections in one process cannot
      // take turns without blocking the event loop; one process's callers share the client.)
      const otherStore = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
      open.push(otherStore);
      const otherLedger = await openLedgerLog(otherStore, { dataDir: db.dataDir, logger });
      open.push(otherLedger);
      other = { store: otherStore, ledger: otherLedger };
    }
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => {
      const side = i % 2 === 0 ? { store, ledger } : other;
      return append(side.store, side.ledger, [ratingEntry(alice, bob), ratingEntry(bob, alice)]);
    }));
    const seqs = results.flat().sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
    for (const pair of results) expect(pair[1]).toBe(pair[0]! + 1);
    const rows = await queryRows(db.target, `SELECT "leafHash", "chainHash" FROM "LedgerEntry" ORDER BY "seq"`);
    let chain = LEDGER_GENESIS_CHAIN;
    for (const [leaf, chainHash] of rows as Array<[string, string]>) {
      chain = ledgerChainHash(chain, leaf);
      expect(chainHash).toBe(chain);
    }
    expect(rows).toHaveLength(81);
  }, 60_000);

  test('heads are signed at most once a second, verify with the edge key, and inclusion and consistency proofs verify against them', async () => {
    const time = clock();
    const { store, ledger, alice, bob } = await setUp(time.now);
    const first = await ledger.head();
    expect(first.treeSize).toBe(1);
    expect(verifyTreeHead(first, ledger.publicKey().publicKey)).toBe(true);
    expect(verifyTreeHead({ ...first, treeSize: 2 }, ledger.publicKey().publicKey)).toBe(false);
    for (let i = 0; i < 20; i++) await append(store, ledger, [ratingEntry(alice, bob)]);
    // Within the second: still the old head.
    expect(await ledger.head()).toEqual(first);
    time.advance(1_000);
    const second = await ledger.head();
    expect(second).toMatchObject({ treeSize: 21, timestamp: first.timestamp + 1_000 });
    expect(verifyTreeHead(second, ledger.publicKey().publicKey)).toBe(true);
    time.advance(5_000);
    expect(await ledger.head()).toEqual(second);
    const entries = await ledger.entriesOf(alice, { below: second.treeSize, limit: 100 });
    expect(entries).toHaveLength(20);
    for (const entry of entries) {
      const proof = (await ledger.inclusionProof(entry.seq, second.treeSize)).map((node) => Buffer.from(node, 'hex'));
      expect(verifyInclusion(Buffer.from(ledgerLeafHash(entry.body), 'hex'), entry.seq, second.treeSize, proof, Buffer.from(second.rootHash, 'hex'))).toBe(true);
    }
    const consistency = (await ledger.consistencyProof(first.treeSize, second.treeSize)).map((node) => Buffer.from(node, 'hex'));
    expect(verifyConsistency(first.treeSize, second.treeSize, Buffer.from(first.rootHash, 'hex'), Buffer.from(second.rootHash, 'hex'), consistency)).toBe(true);
    expect(await rejection(ledger.inclusionProof(21, 21))).toMatchObject({ code: 'bad_request' });
    expect(await rejection(ledger.consistencyProof(3, 500))).toMatchObject({ code: 'bad_request' });
  });

  test('another edge\'s appends are read before a proof: the tree is only a cache', async () => {
    const time = clock();
    const { store, ledger, db, alice, bob } = await setUp(time.now);
    await ledger.head();
    const otherStore = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    open.push(otherStore);
    const other = await openLedgerLog(otherStore, { dataDir: db.dataDir, logger, now: time.now });
    open.push(other);
    for (let i = 0; i < 5; i++) await append(otherStore, other, [ratingEntry(alice, bob)]);
    time.advance(1_000);
    const head: SignedTreeHead = await ledger.head();
    expect(head.treeSize).toBe(6);
    expect(await other.head()).toEqual(head);
    const [entry] = await ledger.entriesOf(alice, { after: 4, limit: 1 });
    const proof = (await ledger.inclusionProof(entry!.seq, head.treeSize)).map((node) => Buffer.from(node, 'hex'));
    expect(verifyInclusion(Buffer.from(ledgerLeafHash(entry!.body), 'hex'), entry!.seq, head.treeSize, proof, Buffer.from(head.rootHash, 'hex'))).toBe(true);
  });

  test('a complete file transfer (not http, not partial) becomes a transfer entry in the same transaction, naming owner and receiver', async () => {
    const { store, ledger, alice, bob } = await setUp();
    const transfers = openTransferLog(store, { ledger });
    open.push(transfers);
    const base: TransferInput = {
      reportId: 'report-000000000001', share: 'alice-docs', path: '/a.pdf', sha256: 'ab'.repeat(32), size: 1_000, ownerId: alice, receiverId: bob,
      via: 'direct', startedAt: new Date(1_764_000_000_000), endedAt: new Date(1_764_000_001_000), bytes: 1_000, outcome: 'complete', reportedBy: 'agent',
    };
    await transfers.append([
      base,
      { ...base, reportId: 'report-000000000002', via: 'http' },
      { ...base, reportId: 'report-000000000003', outcome: 'partial' },
      { ...base, reportId: 'report-000000000004', via: 'relay', receiverId: null, receiverNetwork: '198.51.100.0/24' },
    ]);
    // A repeated report is neither a record nor an entry twice.
    await transfers.append([base]);
    const records = await transfers.list({ role: 'sent', accountId: alice, limit: 10 });
    const hashOf = (reportId: string) => records.find((record) => record.reportId === reportId)!.hash;
    const mine = await ledger.entriesOf(alice, { limit: 10 });
    expect(mine.map((entry) => JSON.parse(entry.body))).toEqual([
      { kind: 'transfer', at: 1_764_000_000_000, reportId: base.reportId, share: 'alice-docs', path: '/a.pdf', sha256: 'ab'.repeat(32), size: 1_000, owner: alice, receiver: bob, via: 'direct', bytes: 1_000, outcome: 'complete', recordHash: hashOf(base.reportId) },
      expect.objectContaining({ reportId: 'report-000000000004', receiver: null, via: 'relay', recordHash: hashOf('report-000000000004') }),
    ]);
    expect((await ledger.entriesOf(bob, { limit: 10 })).map((entry) => entry.seq)).toEqual([mine[0]!.seq]);
    expect(await transfers.verifyChain()).toMatchObject({ ok: true, records: 4 });
  });
});
