import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { isUdnsError } from '../../protocol/errors.js';
import { LAST_USED_RESOLUTION_MS, openAccountStore, type AccountStore } from './account-store.js';
import { findPostgresBinaries, queryRows, rejection, requirePostgresInCi, sqliteBackend, startPostgresBackend, type TestBackend, type TestDatabase } from '../../test/helpers/test-databases.js';
import { hashToken } from './token-secret.js';

const pgBin = findPostgresBinaries();

requirePostgresInCi(pgBin);

describe.each(pgBin === null ? (['sqlite'] as const) : (['sqlite', 'postgresql'] as const))('account store on %s', (dialect) => {
  let backend: TestBackend;
  const open: AccountStore[] = [];
  beforeAll(async () => {
    backend = dialect === 'sqlite' ? sqliteBackend() : await startPostgresBackend(pgBin!);
  }, 60_000);
  afterEach(async () => {
    vi.useRealTimers();
    await Promise.all(open.splice(0).map((store) => store.close()));
  });
  afterAll(() => backend?.cleanup());

  async function freshStore(): Promise<{ store: AccountStore; db: TestDatabase }> {
    const db = await backend.fresh();
    const store = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    open.push(store);
    return { store, db };
  }

  async function storeOn(db: TestDatabase): Promise<AccountStore> {
    const store = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    open.push(store);
    return store;
  }

  test('an account comes with a working token', async () => {
    const { store } = await freshStore();
    expect(await store.countAccounts()).toBe(0);
    const { account, token } = await store.createAccount('alice');
    expect(account).toEqual({ id: expect.any(Number), name: 'alice', createdAt: expect.any(Date) });
    expect(token).toMatch(/^udns_[A-Za-z0-9_-]{43}$/);
    expect(await store.authenticate(token)).toEqual(account);
    expect(await store.countAccounts()).toBe(1);
    expect(await store.listAccounts()).toEqual([account]);
  });

  test('account names are checked and unique', async () => {
    const { store } = await freshStore();
    await store.createAccount('alice');
    expect(await rejection(store.createAccount('alice'))).toEqual({ code: 'bad_request', message: 'account alice already exists' });
    for (const bad of ['', 'Alice', '-alice', 'a'.repeat(33), 'al ice', 'al_ice', 'ålice']) {
      expect((await rejection(store.createAccount(bad))).code).toBe('bad_request');
    }
    await store.createAccount('a'.repeat(32));
    await store.createAccount('0-9');
    expect(await store.countAccounts()).toBe(3);
  });

  test('unknown, malformed and revoked tokens authenticate nobody', async () => {
    const { store } = await freshStore();
    const { token } = await store.createAccount('alice');
    const unknown = `udns_${'A'.repeat(43)}`;
    for (const bad of [unknown, '', 'udns_', token.slice(0, -1), `${token}x`, token.replace('udns_', 'UDNS_'), `${token.slice(0, -1)}!`, 'x'.repeat(100_000)]) {
      expect(await store.authenticate(bad)).toBeNull();
    }
    await store.revokeToken('alice', token.slice(0, 10));
    expect(await store.authenticate(token)).toBeNull();
  });

  test('tokens are listed without secrets and revoked by id, prefix or whole token', async () => {
    const { store } = await freshStore();
    const { token: first } = await store.createAccount('alice');
    const second = await store.createToken('alice', 'laptop');
    const third = await store.createToken('alice');
    expect(second.info).toEqual({
      id: expect.any(Number), prefix: second.token.slice(0, 10), label: 'laptop',
      createdAt: expect.any(Date), lastUsedAt: null, revokedAt: null,
    });
    const listed = await store.listTokens('alice');
    expect(listed.map((t) => t.label)).toEqual(['initial', 'laptop', '']);
    for (const info of listed) expect(Object.keys(info).sort()).toEqual(['createdAt', 'id', 'label', 'lastUsedAt', 'prefix', 'revokedAt']);

    const byId = await store.revokeToken('alice', String(second.info.id));
    expect(byId.revokedAt).toBeInstanceOf(Date);
    expect((await store.revokeToken('alice', String(second.info.id))).revokedAt).toEqual(byId.revokedAt);
    await store.revokeToken('alice', third.token);
    expect(await store.authenticate(third.token)).toBeNull();
    expect(await store.authenticate(first)).not.toBeNull();
    expect(await store.revokeAllTokens('alice')).toBe(1);
    expect(await store.authenticate(first)).toBeNull();
  });

  test('token operations name what is missing', async () => {
    const { store } = await freshStore();
    const { token } = await store.createAccount('alice');
    await store.createAccount('bob');
    expect((await rejection(store.createToken('carol'))).code).toBe('not_found');
    expect((await rejection(store.listTokens('carol'))).code).toBe('not_found');
    expect(await rejection(store.revokeToken('bob', token.slice(0, 10)))).toEqual({
      code: 'not_found', message: `account bob has no token "${token.slice(0, 10)}"`,
    });
    const whole = await rejection(store.revokeToken('bob', token));
    expect(whole.code).toBe('not_found');
    expect(whole.message).not.toContain(token);
    expect((await rejection(store.revokeToken('alice', '99999999999'))).code).toBe('not_found');
    expect((await rejection(store.createToken('alice', 'bad\nlabel'))).code).toBe('bad_request');
    expect(await store.authenticate(token)).not.toBeNull();
  });

  test('lastUsedAt is written at most once a minute per token', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = new Date('2030-01-01T00:00:00.000Z');
    vi.setSystemTime(t0);
    const { store } = await freshStore();
    const { token } = await store.createAccount('alice');
    const lastUsed = async () => (await store.listTokens('alice'))[0]!.lastUsedAt;

    await store.authenticate(token);
    expect(await lastUsed()).toEqual(t0);
    vi.setSystemTime(t0.getTime() + LAST_USED_RESOLUTION_MS - 1);
    await store.authenticate(token);
    expect(await lastUsed()).toEqual(t0);
    const later = new Date(t0.getTime() + LAST_USED_RESOLUTION_MS + 1_000);
    vi.setSystemTime(later);
    await store.authenticate(token);
    expect(await lastUsed()).toEqual(later);
  });

  test('names are claimed, owned, listed and released', async () => {
    const { store } = await freshStore();
    const { account: alice } = await store.createAccount('alice');
    const { account: bob } = await store.createAccount('bob');
    expect(await store.claimName(alice.id, 'Demo')).toBe('claimed');
    expect(await store.claimName(alice.id, 'demo')).toBe('already-owned');
    expect(await rejection(store.claimName(bob.id, 'demo'))).toEqual({ code: 'name_taken', message: 'the name "demo" belongs to another account' });
    expect((await rejection(store.claimName(bob.id, 'www'))).code).toBe('name_reserved');
    expect((await rejection(store.claimName(bob.id, 'not_a_label'))).code).toBe('name_invalid');
    expect((await rejection(store.claimName(987654, 'orphan'))).code).toBe('not_found');
    await store.claimName(bob.id, 'bobs');

    expect(await store.nameOwner('DEMO')).toBe(alice.id);
    expect(await store.nameOwner('nobody')).toBeNull();
    expect(await store.listNames(alice.id)).toEqual([{ label: 'demo', createdAt: expect.any(Date) }]);
    expect(await store.listAllNames()).toEqual(['bobs', 'demo']);

    expect((await rejection(store.releaseName(bob.id, 'demo'))).code).toBe('not_found');
    await store.releaseName(alice.id, 'demo');
    expect(await store.claimName(bob.id, 'demo')).toBe('claimed');
    expect(await store.listAllNames()).toEqual(['bobs', 'demo']);
  });

  test('two accounts racing for the same names: exactly one wins each name', async () => {
    const { store: first, db } = await freshStore();
    const second = await storeOn(db); // a second connection, as another edge process would have
    const { account: alice } = await first.createAccount('alice');
    const { account: bob } = await first.createAccount('bob');
    const labels = Array.from({ length: 20 }, (_, i) => `race-${i}`);
    const outcomes = await Promise.all(
      labels.flatMap((label) => [
        first.claimName(alice.id, label).then(() => 'alice', (e: unknown) => (isUdnsError(e, 'name_taken') ? 'lost' : Promise.reject(e))),
        second.claimName(bob.id, label).then(() => 'bob', (e: unknown) => (isUdnsError(e, 'name_taken') ? 'lost' : Promise.reject(e))),
      ]),
    );
    for (let i = 0; i < labels.length; i++) {
      const pair = [outcomes[2 * i], outcomes[2 * i + 1]];
      expect(pair.filter((o) => o === 'lost')).toHaveLength(1);
      const winner = pair.find((o) => o !== 'lost') === 'alice' ? alice.id : bob.id;
      expect(await first.nameOwner(labels[i]!)).toBe(winner);
    }
  });

  test('only hashes of tokens are stored', async () => {
    const { store, db } = await freshStore();
    const { token } = await store.createAccount('alice');
    const { token: second } = await store.createToken('alice', 'ci');
    await store.authenticate(token);
    const rows = await queryRows(db.target, 'SELECT hash, prefix, label FROM "Token" ORDER BY id');
    expect(rows).toEqual([
      [hashToken(token), token.slice(0, 10), 'initial'],
      [hashToken(second), second.slice(0, 10), 'ci'],
    ]);
    for (const secret of [token, second]) expect(JSON.stringify(rows)).not.toContain(secret.slice(10));
  });
}, 30_000);

describe('account store files and URLs', () => {
  const backend = sqliteBackend();
  afterAll(() => backend.cleanup());

  test('the plaintext token appears nowhere in the SQLite files', async () => {
    const { dataDir } = await backend.fresh();
    const store = await openAccountStore({ dataDir });
    const { token } = await store.createAccount('alice');
    const { token: second } = await store.createToken('alice');
    await store.authenticate(token);
    const files = fs.readdirSync(dataDir).filter((f) => f.startsWith('udns.db'));
    expect(files).toContain('udns.db');
    const bytesWhileOpen = files.map((f) => fs.readFileSync(path.join(dataDir, f)));
    await store.close();
    const bytesAfter = fs.readdirSync(dataDir).map((f) => fs.readFileSync(path.join(dataDir, f)));
    for (const bytes of [...bytesWhileOpen, ...bytesAfter]) {
      for (const secret of [token, second]) expect(bytes.includes(secret.slice(10))).toBe(false);
    }
    // Proves these were the right files: the hashes are there.
    expect(Buffer.concat(bytesAfter).includes(hashToken(second))).toBe(true);
  });

  test('the default database is <dataDir>/udns.db in a directory only the owner can read', async () => {
    const { dataDir: parent } = await backend.fresh();
    const dataDir = path.join(parent, 'nested', 'data');
    const store = await openAccountStore({ dataDir });
    await store.createAccount('alice');
    await store.close();
    expect(fs.statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(fs.existsSync(path.join(dataDir, 'udns.db'))).toBe(true);
  });

  test('a file: URL picks the SQLite file, and the store reopens with its data', async () => {
    const { dataDir } = await backend.fresh();
    const file = path.join(dataDir, 'elsewhere', 'members.sqlite');
    const first = await openAccountStore({ dataDir, databaseUrl: `file:${file}` });
    const { token } = await first.createAccount('alice');
    await first.close();
    await first.close();
    const again = await openAccountStore({ dataDir: '/nonexistent-unused', databaseUrl: `file://${file}` });
    expect((await again.authenticate(token))?.name).toBe('alice');
    await again.close();
    expect(fs.existsSync(path.join(dataDir, 'udns.db'))).toBe(false);
  });

  test('an unsupported databaseUrl is refused with the fix and without its password', async () => {
    const { dataDir } = await backend.fresh();
    const error = await rejection(openAccountStore({ dataDir, databaseUrl: 'mysql://root:hunter2@db/udns' }));
    expect(error.code).toBe('config_invalid');
    expect(error.message).toContain('scheme "mysql:"');
    expect(error.message).toContain('postgresql://');
    expect(error.message).not.toContain('hunter2');
    expect((await rejection(openAccountStore({ dataDir, databaseUrl: 'file::memory:' }))).code).toBe('config_invalid');
  });

  test('an unreachable PostgreSQL server is reported with where and what to check', async () => {
    const { dataDir } = await backend.fresh();
    const error = await rejection(openAccountStore({ dataDir, databaseUrl: 'postgresql://udns:hunter2@127.0.0.1:1/udns' }));
    expect(error.code).toBe('config_invalid');
    expect(error.message).toBe(
      'cannot open the member database postgresql://127.0.0.1:1/udns: database not reachable; check databaseUrl and that the database is reachable',
    );
  });

  test('an unwritable SQLite location is reported as a config problem', async () => {
    const { dataDir } = await backend.fresh();
    fs.writeFileSync(path.join(dataDir, 'not-a-dir'), '');
    const error = await rejection(openAccountStore({ dataDir, databaseUrl: `file:${path.join(dataDir, 'not-a-dir', 'udns.db')}` }));
    expect(error.code).toBe('config_invalid');
  });
});
