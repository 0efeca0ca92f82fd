import pino from 'pino';
import { expect, test } from 'vitest';
import { openAccountStore, type AccountStore } from '../accounts/account-store.js';
import { NameDirectory } from '../name-directory.js';
import { TcpForwards } from '../proxy/tcp-forwards.js';
import { PublicUrls } from '../public-urls.js';
import { TunnelRegistry } from '../tunnel/tunnel-registry.js';
import { ZoneEditor } from '../zone-editor.js';
import { describeOnDatabases, findPostgresBinaries, queryRows, requirePostgresInCi, type TestDatabase } from '../../test/helpers/test-databases.js';
import { AccountSuspension } from './account-suspension.js';
import { CONSOLE_ABSOLUTE_MS, CONSOLE_CODE_TTL_MS, CONSOLE_IDLE_MS, ConsoleSessions, csrfToken, hashSecret } from './console-sessions.js';

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);

const MINUTE = 60_000;

describeOnDatabases('console sessions and sign-in codes on %s', ({ backend, open }) => {
  async function setUp(): Promise<{ store: AccountStore; db: TestDatabase; clock: { ms: number }; sessions: ConsoleSessions; alice: number; aliceToken: string }> {
    const db = await backend.fresh();
    const store = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    open.push(store);
    const clock = { ms: Date.UTC(2026, 11, 2, 18, 0, 0) };
    const sessions = new ConsoleSessions(store, { now: () => clock.ms });
    const created = await store.createAccount('alice');
    return { store, db, clock, sessions, alice: created.account.id, aliceToken: created.token };
  }

  test('a code signs in once: the second use, and a concurrent one, get nothing', async () => {
    const { sessions, alice } = await setUp();
    const first = await sessions.issueCode(alice);
    expect(first.code).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await sessions.redeemCode(first.code)).toBe(alice);
    expect(await sessions.redeemCode(first.code)).toBeNull();
    const second = await sessions.issueCode(alice);
    const raced = await Promise.all([sessions.redeemCode(second.code), sessions.redeemCode(second.code), sessions.redeemCode(second.code)]);
    expect(raced.filter((winner) => winner === alice)).toHaveLength(1);
    expect(raced.filter((winner) => winner === null)).toHaveLength(2);
  });

  test('a code expires after five minutes, and is gone after a late try', async () => {
    const { sessions, alice, clock } = await setUp();
    const { code, expiresAt } = await sessions.issueCode(alice);
    expect(expiresAt.getTime() - clock.ms).toBe(CONSOLE_CODE_TTL_MS);
    clock.ms += CONSOLE_CODE_TTL_MS;
    expect(await sessions.redeemCode(code)).toBeNull();
    clock.ms -= CONSOLE_CODE_TTL_MS;
    // Deleted by the late try: not redeemable even within its time any more.
    expect(await sessions.redeemCode(code)).toBeNull();
  });

  test('malformed and unknown codes and session ids get nothing, without a lookup error', async () => {
    const { sessions } = await setUp();
    for (const forged of ['', 'x', 'A'.repeat(43), `${'A'.repeat(42)}=`, 'A'.repeat(44), "' OR 1=1 --"]) {
      expect(await sessions.redeemCode(forged)).toBeNull();
      expect(await sessions.resume(forged)).toBeNull();
    }
  });

  test('codes and sessions are stored hashed: the database holds neither the code nor the cookie', async () => {
    const { sessions, alice, db } = await setUp();
    const { code } = await sessions.issueCode(alice);
    const { id, session } = await sessions.open(alice);
    const codes = await queryRows(db.target, 'SELECT * FROM "ConsoleLoginCode"');
    const rows = await queryRows(db.target, 'SELECT * FROM "ConsoleSession"');
    const dump = JSON.stringify([codes, rows], (_key, value: unknown) => typeof value === 'bigint' ? String(value) : value);
    expect(dump).not.toContain(code);
    expect(dump).not.toContain(id);
    expect(dump).not.toContain(session.csrf);
    expect(dump).toContain(hashSecret(code));
    expect(dump).toContain(hashSecret(id));
    expect(session.hash).toBe(hashSecret(id));
    expect(session.csrf).toBe(csrfToken(id));
    expect(session.csrf).not.toBe(session.hash);
  });

  test('a session lives while used, ends after idling, and ends at its absolute expiry however busy', async () => {
    const { sessions, alice, clock } = await setUp();
    const { id } = await sessions.open(alice);
    expect((await sessions.resume(id))?.accountId).toBe(alice);
    // Busy: a request every half idle period keeps it alive…
    const start = clock.ms;
    while (clock.ms + CONSOLE_IDLE_MS / 2 < start + CONSOLE_ABSOLUTE_MS) {
      clock.ms += CONSOLE_IDLE_MS / 2;
      expect(await sessions.resume(id)).not.toBeNull();
    }
    // …until the absolute limit.
    clock.ms = start + CONSOLE_ABSOLUTE_MS;
    expect(await sessions.resume(id)).toBeNull();
    expect(await sessions.count(alice)).toBe(0);

    const idle = await sessions.open(alice);
    clock.ms += CONSOLE_IDLE_MS - MINUTE;
    expect(await sessions.resume(idle.id)).not.toBeNull();
    clock.ms += CONSOLE_IDLE_MS;
    expect(await sessions.resume(idle.id)).toBeNull();
  });

  test('sign-out deletes the session; endAll deletes every session and code of an account', async () => {
    const { sessions, alice, store } = await setUp();
    const bob = (await store.createAccount('bob')).account.id;
    const one = await sessions.open(alice);
    await sessions.end(one.session);
    expect(await sessions.resume(one.id)).toBeNull();
    const two = await sessions.open(alice);
    const three = await sessions.open(alice);
    const bobs = await sessions.open(bob);
    const code = await sessions.issueCode(alice);
    expect(await sessions.endAll(alice)).toBe(2);
    expect(await sessions.resume(two.id)).toBeNull();
    expect(await sessions.resume(three.id)).toBeNull();
    expect(await sessions.redeemCode(code.code)).toBeNull();
    expect((await sessions.resume(bobs.id))?.accountId).toBe(bob);
  });

  test('a suspended account\'s tokens stop authenticating, its sessions end and its records leave DNS; lifting it restores both', async () => {
    const { store, sessions, alice, aliceToken } = await setUp();
    const logger = pino({ level: 'silent' });
    await store.claimName(alice, 'alice-pc');
    await store.addRecord(alice, 'www.alice-pc', { type: 'A', value: '203.0.113.7' });
    const directory = new NameDirectory(await store.listAllNames(), await store.allRecords());
    const registry = new TunnelRegistry(new ZoneEditor(store, directory), directory, new TcpForwards({ low: 0, high: -1 }, '127.0.0.1', logger), new PublicUrls('example.test', 80), logger, 60_000);
    try {
      await store.createAccount('admin');
      const suspension = new AccountSuspension(store, registry, sessions, logger, directory);
      const shown = (): string[] => directory.recordsAt('www.alice-pc').map((record) => record.value);
      expect(shown()).toEqual(['203.0.113.7']);
      const session = await sessions.open(alice);
      expect((await store.authenticate(aliceToken))?.id).toBe(alice);
      const suspended = await suspension.suspend('alice');
      expect(suspended.suspendedAt).toBeInstanceOf(Date);
      expect(await store.authenticate(aliceToken)).toBeNull();
      expect(await sessions.resume(session.id)).toBeNull();
      expect(shown()).toEqual([]);
      // An edge started now leaves them out too.
      const restarted = new NameDirectory(await store.listAllNames(), await store.allRecords());
      await new AccountSuspension(store, registry, sessions, logger, restarted).hideSuspendedRecords();
      expect(restarted.recordsAt('www.alice-pc')).toEqual([]);
      // Twice changes nothing: the first time is kept.
      expect((await suspension.suspend('alice')).suspendedAt).toEqual(suspended.suspendedAt);
      await expect(suspension.suspend('admin')).rejects.toMatchObject({ code: 'forbidden' });
      await expect(suspension.suspend('nobody')).rejects.toMatchObject({ code: 'not_found' });
      expect((await suspension.unsuspend('alice')).suspendedAt).toBeNull();
      expect((await store.authenticate(aliceToken))?.id).toBe(alice);
      expect(shown()).toEqual(['203.0.113.7']);
    } finally {
      registry.closeAll();
    }
  });
});
