import fs from 'node:fs';
import pino from 'pino';
import { expect, test } from 'vitest';
import { generateSigningKey, keyIdOf } from '../../protocol/index.js';
import { openAccountStore } from '../accounts/account-store.js';
import { findPostgresBinaries, rejection, requirePostgresInCi, describeOnDatabases } from '../../test/helpers/test-databases.js';
import { openLedgerLog } from '../ledger/ledger-log.js';
import { keyLedgerOf, MAX_KEYS_PER_ACCOUNT, openSigningKeyStore } from './signing-key-store.js';

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);

describeOnDatabases('signing key store on %s', ({ backend, open }) => {

  async function setUp() {
    const db = await backend.fresh();
    const store = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    open.push(store);
    const alice = (await store.createAccount('alice')).account;
    const bob = (await store.createAccount('bob')).account;
    return { keys: openSigningKeyStore(store), alice, bob, store, dataDir: db.dataDir };
  }

  test('with the ledger: a new key is one `key` entry concerning its account, the same key again none', async () => {
    const { store, alice, dataDir } = await setUp();
    fs.mkdirSync(dataDir, { recursive: true });
    const ledger = await openLedgerLog(store, { dataDir, logger: pino({ level: 'silent' }) });
    open.push(ledger);
    const keys = openSigningKeyStore(store, keyLedgerOf(store, ledger));
    const before = await ledger.size();
    const pair = generateSigningKey();
    await keys.register(alice, pair.publicKey);
    await keys.register(alice, pair.publicKey);
    expect(await ledger.size()).toBe(before + 1);
    const entries = await ledger.entriesOf(alice.id, { limit: 10 });
    expect(entries).toHaveLength(1);
    expect(JSON.parse(entries[0]!.body)).toMatchObject({ kind: 'key', account: alice.id, keyId: pair.keyId, publicKey: pair.publicKey });
    // Refused registrations leave no entry.
    await rejection(keys.register({ id: alice.id + 1, name: 'bob' }, pair.publicKey));
    expect(await ledger.size()).toBe(before + 1);
  });

  test('registering a key twice is one row; lookups by key id and by account find it', async () => {
    const { keys, alice, bob } = await setUp();
    const pair = generateSigningKey();
    expect(await keys.hasActiveKey(alice.id)).toBe(false);
    const first = await keys.register(alice, pair.publicKey);
    expect(first.created).toBe(true);
    expect(first.key).toMatchObject({ keyId: pair.keyId, publicKey: pair.publicKey, account: 'alice', revokedAt: null });
    const again = await keys.register(alice, pair.publicKey);
    expect(again).toEqual({ key: first.key, created: false });

    expect(await keys.byKeyId(pair.keyId)).toEqual({ ...first.key, accountId: alice.id });
    expect(await keys.keysOf(alice.id)).toEqual([first.key]);
    expect(await keys.keysOf(bob.id)).toEqual([]);
    expect(await keys.hasActiveKey(alice.id)).toBe(true);
    expect(await keys.activeKeyOf(alice.id, pair.keyId)).toBe(pair.publicKey);
    // A key id is one account's: bob cannot claim alice's signatures.
    expect(await keys.activeKeyOf(bob.id, pair.keyId)).toBeNull();
    expect(await keys.accountIdOf('alice')).toBe(alice.id);
    expect(await keys.accountIdOf('nobody')).toBeNull();
  });

  test('a key belongs to one account: another account registering it is refused', async () => {
    const { keys, alice, bob } = await setUp();
    const pair = generateSigningKey();
    await keys.register(alice, pair.publicKey);
    const refused = await rejection(keys.register(bob, pair.publicKey));
    expect(refused.code).toBe('forbidden');
    expect(refused.message).toMatch(/another account/);
    expect(await keys.keysOf(bob.id)).toEqual([]);
  });

  test('concurrent registrations of one key end in one row, every caller told about it', async () => {
    const { keys, alice } = await setUp();
    const pair = generateSigningKey();
    const answers = await Promise.all(Array.from({ length: 8 }, () => keys.register(alice, pair.publicKey)));
    expect(answers.filter((answer) => answer.created)).toHaveLength(1);
    expect(new Set(answers.map((answer) => answer.key.keyId))).toEqual(new Set([keyIdOf(pair.publicKey)]));
    expect(await keys.keysOf(alice.id)).toHaveLength(1);
  });

  test('several keys per account (one per machine), up to the limit; a malformed key is a bad request', async () => {
    const { keys, alice } = await setUp();
    for (let i = 0; i < MAX_KEYS_PER_ACCOUNT; i++) await keys.register(alice, generateSigningKey().publicKey);
    expect(await keys.keysOf(alice.id)).toHaveLength(MAX_KEYS_PER_ACCOUNT);
    expect((await rejection(keys.register(alice, generateSigningKey().publicKey))).code).toBe('bad_request');
    expect((await rejection(keys.register(alice, Buffer.alloc(31).toString('base64')))).code).toBe('bad_request');
  });
});
