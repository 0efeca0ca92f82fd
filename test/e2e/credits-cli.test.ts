import fs from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CreditMoveAnswer, CreditsAnswer } from '../../protocol/credits.js';
import { openAccountStore } from '../../server/accounts/account-store.js';
import { startEdgeProcess, type EdgeProcess } from '../helpers/edge-process.js';
import { expectCleanFailure, runCli } from '../helpers/test-agent.js';
import { findPostgresBinaries, requirePostgresInCi, startPostgresBackend, type TestBackend, type TestDatabase } from '../helpers/test-databases.js';

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);

/**
 * A TCP proxy in front of the edge that, for the first `drops` connections, forwards the
 * request and then resets the client's connection as soon as the edge starts answering: the
 * edge did the work, the client never learns it. Later connections pass through.
 */
function droppingProxy(target: number, drops: number): Promise<{ port: number; dropped: () => number; close(): void }> {
  let dropped = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => {});
    client.on('close', () => sockets.delete(client));
    const upstream = net.connect(target, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    if (dropped < drops) {
      dropped++;
      upstream.once('data', () => {
        upstream.destroy();
        client.resetAndDestroy();
      });
    } else {
      upstream.pipe(client);
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: (server.address() as net.AddressInfo).port,
    dropped: () => dropped,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  })));
}

describe.each(pgBin === null ? (['sqlite'] as const) : (['sqlite', 'postgresql'] as const))('udns credits and udns account grant against a real edge process on %s', (dialect) => {
  let backend: TestBackend | undefined;
  let db: TestDatabase | undefined;
  let edge: EdgeProcess;
  let aliceToken: string;
  let bobToken: string;
  const storeArgs = () => ['--data-dir', edge.dataDir, ...(db?.databaseUrl ? ['--database-url', db.databaseUrl] : [])];
  const as = (token: string) => ({ UDNS_SERVER: edge.serverUrl, UDNS_TOKEN: token });

  async function credits(token: string): Promise<CreditsAnswer> {
    const run = await runCli(['credits', '--json', '--limit', '200'], as(token));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    return CreditsAnswer.parse(JSON.parse(run.stdout));
  }

  beforeAll(async () => {
    if (dialect === 'postgresql') {
      backend = await startPostgresBackend(pgBin!);
      db = await backend.fresh();
    }
    edge = await startEdgeProcess(db?.databaseUrl ? ['--database-url', db.databaseUrl] : []);
    const store = await openAccountStore({ dataDir: edge.dataDir, databaseUrl: db?.databaseUrl });
    try {
      aliceToken = (await store.createAccount('alice')).token;
      bobToken = (await store.createAccount('bob')).token;
    } finally {
      await store.close();
    }
  }, 90_000);
  afterAll(async () => {
    await edge?.stop();
    if (edge) fs.rmSync(edge.dataDir, { recursive: true, force: true });
    await backend?.cleanup();
  });

  test('the operator grants beside the edge (once per key); the member sees available and history; sends move once per key', async () => {
    const granted = await runCli(['account', 'grant', 'alice', '1000', '--memo', 'welcome', '--key', 'alice-welcome', ...storeArgs()]);
    expect(granted.stderr).toBe('');
    expect(granted.stdout).toMatch(/^granted 1000 credits to "alice" \(movement \d+, ledger entry \d+, key alice-welcome\); alice has 1000 available\n$/);
    const again = await runCli(['account', 'grant', 'alice', '1000', '--memo', 'welcome', '--key', 'alice-welcome', ...storeArgs()]);
    expect(again.stdout).toMatch(/^already granted 1000 credits to "alice".*alice has 1000 available\n$/);
    const json = await runCli(['account', 'grant', 'alice', '1000', '--memo', 'welcome', '--key', 'alice-welcome', '--json', ...storeArgs()]);
    expect(CreditMoveAnswer.parse(JSON.parse(json.stdout))).toMatchObject({ replayed: true, available: 1000, movement: { kind: 'grant', amount: 1000, toAccount: 'alice', memo: 'welcome' } });

    const shown = await runCli(['credits'], as(aliceToken));
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^alice: 1000 credits available\n/);
    expect(shown.stdout).toMatch(/ID +WHEN +KIND +AMOUNT +PEER +MEMO\n\d+ +\S+ \S+ +grant +\+1000 +← operator +welcome\n/);

    const sent = await runCli(['credits', 'send', 'bob', '250', '--memo', 'for the slides'], as(aliceToken));
    expect(sent.stderr).toBe('');
    expect(sent.stdout).toMatch(/^sent 250 credits to bob \(movement \d+, ledger entry \d+\); 750 available\n$/);
    const bob = await credits(bobToken);
    expect(bob).toMatchObject({ account: 'bob', available: 250, held: 0, next: null });
    expect(bob.history.map((m) => [m.kind, m.fromAccount, m.toAccount, m.amount, m.memo])).toEqual([['send', 'alice', 'bob', 250, 'for the slides']]);
    const bobTable = await runCli(['credits'], as(bobToken));
    expect(bobTable.stdout).toMatch(/send +\+250 +← alice +for the slides/);

    // A repeated send with its key (what a user does after a lost answer): moved once.
    for (let i = 0; i < 2; i++) {
      const keyed = await runCli(['credits', 'send', 'bob', '50', '--key', 'lunch-2026-12-02', '--json'], as(aliceToken));
      expect(CreditMoveAnswer.parse(JSON.parse(keyed.stdout))).toMatchObject({ replayed: i === 1, available: 700 });
    }
    const keyConflict = await runCli(['credits', 'send', 'bob', '51', '--key', 'lunch-2026-12-02'], as(aliceToken));
    expectCleanFailure(keyConflict, /^udns: the idempotency key "lunch-2026-12-02" was used for another movement .*use a new key/);
    expect((await credits(aliceToken)).available).toBe(700);
    expect((await credits(bobToken)).available).toBe(300);
    const aliceTable = await runCli(['credits'], as(aliceToken));
    expect(aliceTable.stdout).toMatch(/send +-50 +→ bob/);
  }, 120_000);

  // Input checks and the admin rule run before any database work: once (SQLite) is enough, and
  // keeps the suite inside its 15 minutes; the money paths above and below run on both.
  test.runIf(dialect === 'sqlite')('bad input is one readable line, a non-zero exit, and moves nothing', async () => {
    const before = [(await credits(aliceToken)).available, (await credits(bobToken)).available];
    const cases: Array<[string[], RegExp]> = [
      [['credits', 'send', 'bob', '-5'], /^udns: the amount must be a whole number of credits from 1 to 1000000000000, got "-5"$/],
      [['credits', 'send', 'bob', '0'], /^udns: the amount must be a whole number of credits from 1 to 1000000000000, got "0"$/],
      [['credits', 'send', 'bob', '1.5'], /^udns: the amount must be a whole number .*got "1\.5"$/],
      [['credits', 'send', 'bob', 'ten'], /^udns: the amount must be a whole number .*got "ten"$/],
      [['credits', 'send', 'bob', '1000000000001'], /^udns: the amount must be a whole number/],
      [['credits', 'send', 'zed', '5'], /^udns: no account "zed": check the name/],
      [['credits', 'send', 'alice', '5'], /^udns: you cannot send credits to yourself/],
      [['credits', 'send', 'bob', '100000'], /^udns: not enough credits: 100000 asked, \d+ available/],
      [['credits', 'send', 'bob', '5', '--key', 'short'], /^udns: --key must be 8-128 characters/],
      [['credits', 'send', 'bob', '5', '--memo', 'x'.repeat(201)], /^udns: --memo must be one line of at most 200 characters$/],
      [['credits', '--limit', '0'], /^udns: --limit must be a whole number from 1 to 200/],
    ];
    for (const [args, pattern] of cases) expectCleanFailure(await runCli(args, as(aliceToken)), pattern);
    for (const [args, pattern] of [
      [['account', 'grant', 'zed', '5', ...storeArgs()], /^udns: no account "zed": create it first/],
      [['account', 'grant', 'alice', '0', ...storeArgs()], /^udns: the amount must be a whole number/],
      [['account', 'grant', 'alice', '2.5', ...storeArgs()], /^udns: the amount must be a whole number/],
    ] as Array<[string[], RegExp]>) expectCleanFailure(await runCli(args), pattern);
    expect([(await credits(aliceToken)).available, (await credits(bobToken)).available]).toEqual(before);
  }, 120_000);

  test.runIf(dialect === 'sqlite')('grants over HTTP need the admin account; members cannot mint', async () => {
    const grant = (token: string, idempotencyKey: string) => fetch(`${edge.serverUrl}/api/v1/credits/grant`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'bob', amount: 40, idempotencyKey }),
    });
    const refused = await grant(aliceToken, 'http-grant-1');
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ error: { code: 'forbidden', message: expect.stringMatching(/only the admin account grants credits/) } });
    const before = (await credits(bobToken)).available;
    const ok = await grant(edge.adminToken, 'http-grant-1');
    expect(ok.status).toBe(200);
    expect(CreditMoveAnswer.parse(await ok.json())).toMatchObject({ replayed: false, available: before + 40, movement: { kind: 'grant', from: 'issuance', toAccount: 'bob' } });
    // The admin's key and the operator's are one scope: the same key beside the edge replays it.
    const beside = await runCli(['account', 'grant', 'bob', '40', '--key', 'http-grant-1', ...storeArgs()]);
    expect(beside.stdout).toMatch(/^already granted 40 credits to "bob"/);
    expect((await credits(bobToken)).available).toBe(before + 40);
    const bad = await fetch(`${edge.serverUrl}/api/v1/credits/send`, {
      method: 'POST', headers: { authorization: `Bearer ${bobToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'alice', amount: -3, idempotencyKey: 'negative-1' }),
    });
    expect(bad.status).toBe(400);
    expect((await bad.json() as { error: { code: string } }).error.code).toBe('bad_request');
  }, 60_000);

  test('a send whose answer is lost (connection reset after the edge moved the credits) is retried with the same key: moved once, reported as done', async () => {
    // Its own credits, so that it runs alone too (vitest -t).
    expect((await runCli(['account', 'grant', 'alice', '100', '--key', 'lost-answer-grant', ...storeArgs()])).code).toBe(0);
    const proxy = await droppingProxy(edge.httpPort, 1);
    try {
      const before = [(await credits(aliceToken)).available, (await credits(bobToken)).available];
      const run = await runCli(['credits', 'send', 'bob', '7', '--memo', 'lost answer'], { UDNS_SERVER: `http://127.0.0.1:${proxy.port}`, UDNS_TOKEN: aliceToken });
      expect(proxy.dropped()).toBe(1);
      expect(run.code).toBe(0);
      expect(run.stderr).toMatch(/^udns: cannot reach the server .*ECONNRESET.*; retrying \(1 of 3\) with the same idempotency key\n$/);
      expect(run.stdout).toMatch(/^already sent 7 credits to bob/);
      expect([(await credits(aliceToken)).available, (await credits(bobToken)).available]).toEqual([before[0]! - 7, before[1]! + 7]);
      expect((await credits(bobToken)).history.filter((m) => m.memo === 'lost answer')).toHaveLength(1);
    } finally {
      proxy.close();
    }
  }, 60_000);
});
