import { createRequire } from 'node:module';
import { expect, test } from 'vitest';
import { openAccountStore, storeDatabase, type AccountStore } from '../accounts/account-store.js';
import { executeSql, findPostgresBinaries, queryRows, requirePostgresInCi, describeOnDatabases, type TestDatabase } from '../../test/helpers/test-databases.js';
import { chainHash, GENESIS_HASH, type ChainedFields } from './transfer-chain.js';
import { openTransferLog, type TransferInput, type TransferLog } from './transfer-log.js';

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);

/** Runs SQL as someone with the database in hand; SQLite's own message (the adapter would rename it). */
async function rawSql(db: TestDatabase, sql: string): Promise<void> {
  if (db.target.dialect === 'postgresql') return executeSql(db.target, sql);
  const connection = new Database(db.target.file);
  try {
    connection.exec(sql);
  } finally {
    connection.close();
  }
}

/** better-sqlite3 ships no types; the two calls used here. */
const Database = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => { exec(sql: string): void; close(): void };

let serial = 0;
function transfer(ownerId: number, overrides: Partial<TransferInput> = {}): TransferInput {
  serial++;
  return {
    reportId: `test-${serial}`,
    share: 'alice-docs',
    path: `/file-${serial}.pdf`,
    sha256: 'ab'.repeat(32),
    size: 5_000_000_000,
    ownerId,
    receiverNetwork: '198.51.100.0/24',
    via: 'relay',
    startedAt: new Date(1_764_000_000_123),
    endedAt: new Date(1_764_000_001_456),
    bytes: 5_000_000_000,
    outcome: 'complete',
    reportedBy: 'edge',
    ...overrides,
  };
}

describeOnDatabases('transfer log on %s', ({ dialect, backend, open }) => {

  async function setUp(): Promise<{ store: AccountStore; log: TransferLog; db: TestDatabase; alice: number; bob: number }> {
    const db = await backend.fresh();
    const store = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    open.push(store);
    const log = openTransferLog(store);
    open.push(log);
    const alice = (await store.createAccount('alice')).account.id;
    const bob = (await store.createAccount('bob')).account.id;
    return { store, log, db, alice, bob };
  }

  test('a record comes back with names, exact 64-bit sizes and its chain; the same reportId twice is one row', async () => {
    const { log, alice, bob } = await setUp();
    const first = transfer(alice, { receiverId: bob, receiverNetwork: '203.0.113.0/24' });
    expect(await log.append([first])).toEqual({ appended: 1, duplicates: 0 });
    expect(await log.append([first, first])).toEqual({ appended: 0, duplicates: 2 });
    const [row, ...rest] = await log.list({ role: 'sent', accountId: alice, limit: 10 });
    expect(rest).toEqual([]);
    expect(row).toMatchObject({
      reportId: first.reportId, share: 'alice-docs', path: first.path, sha256: 'ab'.repeat(32), size: 5_000_000_000,
      owner: 'alice', receiver: 'bob', receiverId: bob,
      // A member receiver is named; the network is only kept for anonymous visitors.
      receiverNetwork: null,
      via: 'relay', bytes: 5_000_000_000, outcome: 'complete', reportedBy: 'edge', prevHash: GENESIS_HASH,
      startedAt: new Date(1_764_000_000_123), endedAt: new Date(1_764_000_001_456),
    });
    expect(row!.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(await log.list({ role: 'received', accountId: bob, limit: 10 })).toHaveLength(1);
    expect(await log.list({ role: 'received', accountId: alice, limit: 10 })).toEqual([]);
    expect(await log.list({ role: 'sent', accountId: bob, limit: 10 })).toEqual([]);
  });

  test('pages go backwards by id; the chain verifies', async () => {
    const { log, alice } = await setUp();
    await log.append(Array.from({ length: 7 }, () => transfer(alice)));
    const page1 = await log.list({ role: 'sent', accountId: alice, limit: 3 });
    const page2 = await log.list({ role: 'sent', accountId: alice, limit: 3, before: page1.at(-1)!.id });
    const page3 = await log.list({ role: 'sent', accountId: alice, limit: 3, before: page2.at(-1)!.id });
    expect([...page1, ...page2, ...page3].map((r) => r.id)).toEqual([7, 6, 5, 4, 3, 2, 1]);
    expect(await log.verifyChain()).toEqual({ ok: true, records: 7, head: page1[0]!.hash });
  });

  test('the buffered writer batches, and close() writes what is still queued', async () => {
    const { log, alice } = await setUp();
    for (let i = 0; i < 5; i++) log.record(transfer(alice, { via: 'http', path: '', size: null, sha256: null, bytesUp: 10 }));
    await log.close();
    expect(await log.list({ role: 'all', limit: 100 })).toHaveLength(5);
    expect((await log.verifyChain()).ok).toBe(true);
  });

  test('UPDATE and DELETE are refused by the database itself', async () => {
    const { log, db, alice } = await setUp();
    await log.append([transfer(alice)]);
    await expect(rawSql(db, `UPDATE "TransferRecord" SET "bytes" = 1`)).rejects.toThrow(/append-only/);
    await expect(rawSql(db, `DELETE FROM "TransferRecord"`)).rejects.toThrow(/append-only/);
    if (dialect === 'postgresql') await expect(rawSql(db, `TRUNCATE "TransferRecord"`)).rejects.toThrow(/append-only/);
    expect((await queryRows(db.target, `SELECT "bytes" FROM "TransferRecord"`)).map((r) => Number(r[0]))).toEqual([5_000_000_000]);
  });

  test('a row changed behind the triggers\' back (someone with the database dropped them) is named by verifyChain', async () => {
    const { log, db, alice } = await setUp();
    await log.append(Array.from({ length: 5 }, () => transfer(alice)));
    const dropTriggers = dialect === 'sqlite'
      ? `DROP TRIGGER "TransferRecord_no_update"; DROP TRIGGER "TransferRecord_no_delete";`
      : `DROP TRIGGER "TransferRecord_no_update_delete" ON "TransferRecord";`;
    await executeSql(db.target, dropTriggers);
    await executeSql(db.target, `UPDATE "TransferRecord" SET "bytes" = 12 WHERE "id" = 3`);
    expect(await log.verifyChain()).toMatchObject({ ok: false, records: 2, brokenAt: 3, reason: expect.stringMatching(/record 3 was changed/) });
    // Recomputing the tampered row's hash moves the break to the next row, which still links the old hash.
    await executeSql(db.target, `DELETE FROM "TransferRecord" WHERE "id" = 3`);
    expect(await log.verifyChain()).toMatchObject({ ok: false, brokenAt: 4, reason: expect.stringMatching(/does not follow/) });
  });

  test('concurrent appends keep one linear chain (PostgreSQL: from two connections pools, like two edge processes)', async () => {
    const { log, db, alice } = await setUp();
    let otherLog = log;
    if (dialect === 'postgresql') {
      // A second edge process on the same database: its own store and connection pool. (Two
      // SQLite connections in one process cannot take turns: better-sqlite3 blocks the event
      // loop while it waits for the other's write lock, so on SQLite the writers share one log.)
      const other = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
      open.push(other);
      otherLog = openTransferLog(other);
      open.push(otherLog);
    }
    const batches = Array.from({ length: 10 }, (_, i) => Array.from({ length: 5 }, () => transfer(alice, { reportId: `race-${i}-${serial}` })));
    // The same report sent to both: recorded once.
    const shared = transfer(alice);
    await Promise.all(batches.map((batch, i) => (i % 2 === 0 ? log : otherLog).append([...batch, shared])));
    const verdict = await log.verifyChain();
    expect(verdict).toMatchObject({ ok: true, records: 51 });
    const prevs = await queryRows(db.target, `SELECT "prevHash" FROM "TransferRecord"`);
    expect(new Set(prevs.map((r) => r[0])).size).toBe(51);
  }, 60_000);

  test('a batch written with plain SQL reads back through Prisma field by field like a row Prisma wrote, dates stored alike, and the chain verifies across both', async () => {
    const { store, log, db, alice, bob } = await setUp();
    const { prisma } = storeDatabase(store);
    // A row as the earlier writer (Prisma's createMany) stored it.
    const old: ChainedFields = {
      reportId: 'prisma-written', share: 'alice-docs', path: '/old.pdf', sha256: 'cd'.repeat(32), size: 9_007_199_254_740_993n, offset: 7n,
      ownerId: alice, receiverId: bob, receiverNetwork: null, via: 'direct', startedAt: new Date(1_700_000_000_001), endedAt: new Date(1_700_000_000_999),
      bytes: 9_007_199_254_740_993n, bytesUp: 0n, outcome: 'partial', reportedBy: 'agent', ticketId: 'ticket-1', recordedAt: new Date(1_700_000_001_000),
    };
    await prisma.transferRecord.createMany({ data: [{ ...old, prevHash: GENESIS_HASH, hash: chainHash(GENESIS_HASH, old) }] });
    const inputs: TransferInput[] = [
      transfer(alice, { receiverId: bob, offset: 1_000, ticketId: 'ticket-2', outcome: 'partial', reportedBy: 'agent', via: 'direct' }),
      transfer(alice, { via: 'http', path: '', size: null, sha256: null, bytes: 0, bytesUp: 2 ** 53 - 1, startedAt: new Date(0), endedAt: new Date(Date.UTC(2099, 11, 31, 23, 59, 59, 999)) }),
      transfer(bob, { path: 'ünïcode \'quoted\' "path"; --', share: 'bob-share', receiverNetwork: '2001:db8:1::/48' }),
    ];
    const before = Date.now();
    expect(await log.append(inputs)).toEqual({ appended: 3, duplicates: 0 });
    const rows = await prisma.transferRecord.findMany({ orderBy: { id: 'asc' } });
    expect(rows).toHaveLength(4);
    expect(rows[0]).toEqual({ id: 1, ...old, prevHash: GENESIS_HASH, hash: chainHash(GENESIS_HASH, old) });
    let head = rows[0]!.hash;
    for (const [i, input] of inputs.entries()) {
      const row = rows[i + 1]!;
      expect(row.recordedAt).toBeInstanceOf(Date);
      expect(row.recordedAt.getTime()).toBeGreaterThanOrEqual(before - 1);
      const expected: ChainedFields = {
        reportId: input.reportId, share: input.share, path: input.path, sha256: input.sha256 ?? null,
        size: input.size === null || input.size === undefined ? null : BigInt(input.size), offset: BigInt(input.offset ?? 0),
        ownerId: input.ownerId, receiverId: input.receiverId ?? null, receiverNetwork: input.receiverId === undefined ? input.receiverNetwork ?? null : null,
        via: input.via, startedAt: input.startedAt, endedAt: input.endedAt, bytes: BigInt(input.bytes), bytesUp: BigInt(input.bytesUp ?? 0),
        outcome: input.outcome, reportedBy: input.reportedBy, ticketId: input.ticketId ?? null, recordedAt: row.recordedAt,
      };
      expect(row).toEqual({ id: i + 2, ...expected, prevHash: head, hash: chainHash(head, expected) });
      head = row.hash;
    }
    // The same storage as Prisma's own write (SQLite: ISO text with +00:00; PostgreSQL: timestamp(3)).
    const typeOf = dialect === 'sqlite' ? 'typeof' : 'pg_typeof';
    const stored = await queryRows(db.target, `SELECT ${typeOf}("startedAt")::text, ${typeOf}("endedAt")::text, ${typeOf}("recordedAt")::text, ${typeOf}("size")::text, ${typeOf}("bytes")::text FROM "TransferRecord" WHERE "size" IS NOT NULL ORDER BY "id"`.replaceAll('::text', dialect === 'sqlite' ? '' : '::text'));
    expect(stored).toHaveLength(3);
    for (const row of stored) expect(row).toEqual(stored[0]);
    if (dialect === 'sqlite') {
      const text = await queryRows(db.target, `SELECT "startedAt", "recordedAt" FROM "TransferRecord" ORDER BY "id"`);
      expect(text[0]).toEqual(['2023-11-14T22:13:20.001+00:00', '2023-11-14T22:13:21.000+00:00']);
      expect(text[1]![0]).toBe('2025-11-24T16:00:00.123+00:00');
      expect(text[2]![0]).toBe('1970-01-01T00:00:00.000+00:00');
    }
    expect(await log.verifyChain()).toEqual({ ok: true, records: 4, head });
  });

  test('duplicate reportIds, in a batch and against the table, across INSERT chunks: each stored once, in first-seen order, the chain unbroken', async () => {
    const { store, log, alice } = await setUp();
    const a = transfer(alice);
    const b = transfer(alice);
    expect(await log.append([a, b])).toEqual({ appended: 2, duplicates: 0 });
    const c = transfer(alice);
    const d = transfer(alice);
    expect(await log.append([b, c, c, a, d, b])).toEqual({ appended: 2, duplicates: 4 });
    // More than two INSERT chunks (1,000 rows each), with repeats inside and of earlier rows.
    const many = Array.from({ length: 2_300 }, () => transfer(alice, { via: 'http', path: '', size: null, sha256: null }));
    const batch = [...many.slice(0, 1_200), c, many[5]!, ...many.slice(1_200), many[2_299]!, a];
    expect(await log.append(batch)).toEqual({ appended: 2_300, duplicates: 4 });
    const ids = (await storeDatabase(store).prisma.transferRecord.findMany({ orderBy: { id: 'asc' }, select: { id: true, reportId: true } }));
    expect(ids.map((row) => row.reportId)).toEqual([a, b, c, d, ...many].map((t) => t.reportId));
    expect(ids.map((row) => row.id)).toEqual(Array.from({ length: 2_304 }, (_, i) => i + 1));
    expect(await log.verifyChain()).toMatchObject({ ok: true, records: 2_304 });
  }, 60_000);
});
