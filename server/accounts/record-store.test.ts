import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { openAccountStore, type AccountStore } from './account-store.js';
import { MAX_RECORD_BYTES_PER_OWNER, MAX_RECORDS_PER_NAME } from './record-rules.js';
import type { DnsRecordInfo } from './record-store.js';
import { findPostgresBinaries, queryRows, rejection, requirePostgresInCi, sqliteBackend, startPostgresBackend, type TestBackend, type TestDatabase } from '../../test/helpers/test-databases.js';

const pgBin = findPostgresBinaries();

requirePostgresInCi(pgBin);

/** type + value + ttl at each owner: what DNS sees. */
function summary(records: DnsRecordInfo[]): string[] {
  return records.map((record) => `${record.owner} ${record.ttl} ${record.type} ${record.value}`);
}

describe.each(pgBin === null ? (['sqlite'] as const) : (['sqlite', 'postgresql'] as const))('DNS records on %s', (dialect) => {
  let backend: TestBackend;
  const open: AccountStore[] = [];
  beforeAll(async () => {
    backend = dialect === 'sqlite' ? sqliteBackend() : await startPostgresBackend(pgBin!);
  }, 60_000);
  afterEach(async () => {
    await Promise.all(open.splice(0).map((store) => store.close()));
  });
  afterAll(() => backend?.cleanup());

  /** A fresh store where `alice` (account 1) owns the name `alice` and `bob` owns `bob`. */
  async function setUp(): Promise<{ store: AccountStore; db: TestDatabase; alice: number; bob: number }> {
    const db = await backend.fresh();
    const store = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    open.push(store);
    const alice = (await store.createAccount('alice')).account.id;
    const bob = (await store.createAccount('bob')).account.id;
    await store.claimName(alice, 'alice');
    await store.claimName(bob, 'bob');
    return { store, db, alice, bob };
  }

  test('records at a name and its sub-names come back as plain objects with canonical values', async () => {
    const { store, alice } = await setUp();
    const added = await store.addRecord(alice, 'alice', { type: 'A', value: '203.0.113.7' });
    expect(added.record).toEqual({
      id: expect.any(Number), owner: 'alice', label: 'alice', host: '', type: 'A', value: '203.0.113.7', ttl: 60,
      createdAt: expect.any(Date), updatedAt: expect.any(Date),
    });
    expect(added).toMatchObject({ owner: 'alice', changed: true });
    await store.addRecord(alice, 'alice', { type: 'AAAA', value: '2001:DB8:0::1', ttl: 300 });
    await store.addRecord(alice, 'WWW.alice', { type: 'CNAME', value: 'Host.Example.com.' });
    await store.addRecord(alice, '_acme-challenge.alice', { type: 'TXT', value: 'token-1' });
    await store.addRecord(alice, 'a.b.alice', { type: 'TXT', value: 'deep' });

    expect(summary(await store.listRecords(alice))).toEqual([
      'alice 60 A 203.0.113.7',
      'alice 300 AAAA 2001:db8::1',
      '_acme-challenge.alice 60 TXT token-1',
      'a.b.alice 60 TXT deep',
      'www.alice 60 CNAME host.example.com',
    ]);
    expect(summary(await store.listRecords(alice, 'b.alice'))).toEqual(['a.b.alice 60 TXT deep']);
    expect(summary(await store.listRecords(alice, 'www.alice'))).toEqual(['www.alice 60 CNAME host.example.com']);
    expect(await store.listRecords(alice, 'nothing.alice')).toEqual([]);
  });

  test('adding a record that exists changes at most its TTL', async () => {
    const { store, alice } = await setUp();
    await store.addRecord(alice, 'alice', { type: 'TXT', value: 'x' });
    expect((await store.addRecord(alice, 'alice', { type: 'TXT', value: 'x' })).changed).toBe(false);
    const retimed = await store.addRecord(alice, 'alice', { type: 'TXT', value: 'x', ttl: 120 });
    expect(retimed.changed).toBe(true);
    expect(summary(retimed.records)).toEqual(['alice 120 TXT x']);
    expect(await store.listRecords(alice)).toHaveLength(1);
  });

  test('only names the account owns, or sub-names of them, can hold records', async () => {
    const { store, alice } = await setUp();
    expect(await rejection(store.addRecord(alice, 'bob', { type: 'A', value: '203.0.113.7' }))).toEqual({ code: 'forbidden', message: 'the name "bob" belongs to another account' });
    expect((await rejection(store.addRecord(alice, 'www.bob', { type: 'A', value: '203.0.113.7' }))).code).toBe('forbidden');
    expect((await rejection(store.addRecord(alice, 'carol', { type: 'A', value: '203.0.113.7' }))).code).toBe('not_found');
    expect((await rejection(store.listRecords(alice, 'bob'))).code).toBe('forbidden');
    expect((await rejection(store.setRecords(alice, 'bob', 'A', ['203.0.113.7']))).code).toBe('forbidden');
    expect((await rejection(store.removeRecords(alice, 'bob'))).code).toBe('forbidden');
    expect((await rejection(store.addRecord(alice, 'al_ice', { type: 'A', value: '203.0.113.7' }))).code).toBe('name_invalid');
    expect((await rejection(store.addRecord(alice, 'alice', { type: 'MX' as 'A', value: 'x' }))).code).toBe('record_invalid');
    expect((await rejection(store.addRecord(alice, 'alice', { type: 'A', value: '2001:db8::1' }))).code).toBe('record_invalid');
    expect((await rejection(store.addRecord(alice, 'alice', { type: 'A', value: '203.0.113.7', ttl: 5 }))).code).toBe('record_invalid');
    expect(await store.allRecords()).toEqual([]);
  });

  test('a CNAME is alone at its owner and never at a claimed name itself', async () => {
    const { store, alice } = await setUp();
    expect(await rejection(store.addRecord(alice, 'alice', { type: 'CNAME', value: 'example.com' }))).toMatchObject({ code: 'record_conflict', message: expect.stringContaining('sub-name such as www.alice') });
    expect((await rejection(store.setRecords(alice, 'alice', 'CNAME', ['example.com']))).code).toBe('record_conflict');

    await store.addRecord(alice, 'www.alice', { type: 'CNAME', value: 'example.com' });
    expect((await rejection(store.addRecord(alice, 'www.alice', { type: 'A', value: '203.0.113.7' }))).code).toBe('record_conflict');
    expect((await rejection(store.addRecord(alice, 'www.alice', { type: 'TXT', value: 'x' }))).code).toBe('record_conflict');
    expect((await rejection(store.addRecord(alice, 'www.alice', { type: 'CNAME', value: 'other.example.com' }))).code).toBe('record_conflict');
    // set replaces the CNAME; a second target is refused, as are records beside it
    expect(summary((await store.setRecords(alice, 'www.alice', 'CNAME', ['other.example.com'])).records)).toEqual(['www.alice 60 CNAME other.example.com']);
    expect((await rejection(store.setRecords(alice, 'www.alice', 'CNAME', ['a.example.com', 'b.example.com']))).code).toBe('record_invalid');
    expect((await rejection(store.setRecords(alice, 'www.alice', 'AAAA', ['2001:db8::1']))).code).toBe('record_conflict');

    await store.addRecord(alice, 'mail.alice', { type: 'TXT', value: 'x' });
    expect(await rejection(store.addRecord(alice, 'mail.alice', { type: 'CNAME', value: 'example.com' }))).toMatchObject({ code: 'record_conflict', message: expect.stringContaining('already has TXT records') });
    // Sub-names of a CNAME's owner are other owners: allowed.
    await store.addRecord(alice, 'x.www.alice', { type: 'TXT', value: 'below' });
  });

  test(`a name holds at most ${MAX_RECORDS_PER_NAME} records, sub-names included`, async () => {
    const { store, alice, bob } = await setUp();
    for (let i = 0; i < MAX_RECORDS_PER_NAME - 1; i++) await store.addRecord(alice, i % 2 ? `h${i}.alice` : 'alice', { type: 'TXT', value: `v${i}` });
    await store.addRecord(alice, 'alice', { type: 'A', value: '203.0.113.1' });
    expect(await rejection(store.addRecord(alice, 'new.alice', { type: 'A', value: '203.0.113.2' }))).toMatchObject({ code: 'record_limit' });
    expect((await rejection(store.setRecords(alice, 'alice', 'A', ['203.0.113.1', '203.0.113.2']))).code).toBe('record_limit');
    // Replacing within the limit still works, and other names have their own allowance.
    await store.setRecords(alice, 'alice', 'A', ['203.0.113.9']);
    await store.addRecord(bob, 'bob', { type: 'A', value: '203.0.113.2' });
    expect(await store.listRecords(alice)).toHaveLength(MAX_RECORDS_PER_NAME);
  });

  test(`regression: one owner holds at most ${MAX_RECORD_BYTES_PER_OWNER} bytes of records, so every answer fits a TCP message`, async () => {
    const { store, alice } = await setUp();
    const big = 'x'.repeat(2048);
    for (let i = 0; i < 8; i++) await store.addRecord(alice, 'alice', { type: 'TXT', value: `${i}${big.slice(1)}` });
    expect(await rejection(store.addRecord(alice, 'alice', { type: 'TXT', value: 'one more' }))).toMatchObject({ code: 'record_limit' });
    expect((await rejection(store.setRecords(alice, 'alice', 'TXT', Array.from({ length: 9 }, (_, i) => `${i}${big.slice(1)}`)))).code).toBe('record_limit');
    // Another owner under the same name has its own allowance.
    await store.addRecord(alice, 'txt.alice', { type: 'TXT', value: big });
  });

  test('concurrent adds to one name never pass the limit', async () => {
    const { store, alice } = await setUp();
    const outcomes = await Promise.allSettled(
      Array.from({ length: MAX_RECORDS_PER_NAME + 10 }, (_, i) => store.addRecord(alice, `h${i}.alice`, { type: 'TXT', value: 'x' })),
    );
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(MAX_RECORDS_PER_NAME);
    expect(await store.listRecords(alice)).toHaveLength(MAX_RECORDS_PER_NAME);
  });

  test('setRecords replaces one type atomically, keeps the TTL and reports no-ops', async () => {
    const { store, alice } = await setUp();
    await store.addRecord(alice, 'alice', { type: 'A', value: '203.0.113.1', ttl: 300 });
    await store.addRecord(alice, 'alice', { type: 'TXT', value: 'keep me' });
    const set = await store.setRecords(alice, 'alice', 'A', ['203.0.113.2', '203.0.113.3', '203.0.113.2']);
    expect(set.changed).toBe(true);
    expect(summary(set.records)).toEqual(['alice 300 A 203.0.113.2', 'alice 300 A 203.0.113.3', 'alice 60 TXT keep me']);
    expect((await store.setRecords(alice, 'alice', 'A', ['203.0.113.3', '203.0.113.2'])).changed).toBe(false);
    expect((await store.setRecords(alice, 'alice', 'A', ['203.0.113.3', '203.0.113.2'], 300)).changed).toBe(false);
    // One bad value and nothing changes.
    expect((await rejection(store.setRecords(alice, 'alice', 'A', ['203.0.113.9', 'nope']))).code).toBe('record_invalid');
    expect(summary(await store.listRecords(alice, 'alice'))).toEqual(['alice 300 A 203.0.113.2', 'alice 300 A 203.0.113.3', 'alice 60 TXT keep me']);
    // A given TTL applies to every value; an empty list removes the type.
    expect(summary((await store.setRecords(alice, 'alice', 'A', ['203.0.113.3'], 45)).records)).toEqual(['alice 45 A 203.0.113.3', 'alice 60 TXT keep me']);
    expect(summary((await store.setRecords(alice, 'alice', 'A', [])).records)).toEqual(['alice 60 TXT keep me']);
  });

  test('removeRecords takes all, one type, or one value, and says when nothing matched', async () => {
    const { store, alice } = await setUp();
    await store.setRecords(alice, 'alice', 'AAAA', ['2001:db8::1', '2001:db8::2']);
    await store.addRecord(alice, 'alice', { type: 'TXT', value: 'a' });
    await store.addRecord(alice, 'www.alice', { type: 'TXT', value: 'b' });
    const one = await store.removeRecords(alice, 'alice', 'AAAA', '2001:DB8:0::1');
    expect(one.removed).toBe(1);
    expect(summary(one.records)).toEqual(['alice 60 AAAA 2001:db8::2', 'alice 60 TXT a']);
    expect(await rejection(store.removeRecords(alice, 'alice', 'AAAA', '2001:db8::1'))).toEqual({ code: 'not_found', message: 'alice has no AAAA record "2001:db8::1"' });
    expect((await store.removeRecords(alice, 'alice', 'TXT')).removed).toBe(1);
    expect((await store.removeRecords(alice, 'alice')).removed).toBe(1);
    expect((await rejection(store.removeRecords(alice, 'alice'))).code).toBe('not_found');
    expect((await rejection(store.removeRecords(alice, 'alice', undefined, 'x'))).code).toBe('record_invalid');
    // The sub-name is another owner and kept its record.
    expect(summary(await store.allRecords())).toEqual(['www.alice 60 TXT b']);
  });

  test('releasing a name deletes its records; whoever claims it next starts empty', async () => {
    const { store, db, alice, bob } = await setUp();
    await store.addRecord(alice, 'alice', { type: 'A', value: '203.0.113.7' });
    await store.addRecord(alice, 'www.alice', { type: 'TXT', value: 'x' });
    await store.addRecord(bob, 'bob', { type: 'A', value: '203.0.113.8' });
    await store.releaseName(alice, 'alice');
    expect(summary(await store.allRecords())).toEqual(['bob 60 A 203.0.113.8']);
    expect(Number((await queryRows(db.target, 'SELECT count(*) FROM "DnsRecord"'))[0]![0])).toBe(1);
    await store.claimName(bob, 'alice');
    expect(await store.listRecords(bob, 'alice')).toEqual([]);
  });

  test('allRecords lists every account\'s records, by name', async () => {
    const { store, alice, bob } = await setUp();
    await store.addRecord(bob, 'bob', { type: 'A', value: '203.0.113.8' });
    await store.addRecord(alice, 'alice', { type: 'A', value: '203.0.113.7' });
    expect(summary(await store.allRecords())).toEqual(['alice 60 A 203.0.113.7', 'bob 60 A 203.0.113.8']);
    expect(summary(await store.listRecords(bob))).toEqual(['bob 60 A 203.0.113.8']);
  });
});
