import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { DatabaseTarget } from '../../server/accounts/database-target.js';
import { openAccountStore } from '../../server/accounts/account-store.js';
import { eventually } from '../helpers/eventually.js';
import { startEdgeProcess, type EdgeProcess } from '../helpers/edge-process.js';
import { expectCleanFailure, runCli } from '../helpers/test-agent.js';
import { executeSql, findPostgresBinaries, queryRows, requirePostgresInCi, startPostgresBackend, type TestBackend } from '../helpers/test-databases.js';

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);

/** The append-only triggers of the migration, dropped the way someone holding the database would. */
const DROP_TRIGGERS = {
  sqlite: ['CreditMovement', 'LedgerEntry', 'LedgerHead'].map((table) => `DROP TRIGGER "${table}_no_update"; DROP TRIGGER "${table}_no_delete";`).join(' '),
  postgresql: ['CreditMovement', 'LedgerEntry', 'LedgerHead'].map((table) => `DROP TRIGGER "${table}_no_update_delete" ON "${table}";`).join(' '),
};

describe.each(pgBin === null ? (['sqlite'] as const) : (['sqlite', 'postgresql'] as const))('udns ledger verify and audit against a real edge process on %s', (dialect) => {
  let backend: TestBackend | undefined;
  let edge: EdgeProcess;
  let target: DatabaseTarget;
  let databaseUrl: string | undefined;
  let aliceToken: string;
  const stateHomes: string[] = [];

  const storeArgs = () => ['--data-dir', edge.dataDir, ...(databaseUrl ? ['--database-url', databaseUrl] : [])];
  const as = (token: string, stateHome: string) => ({ UDNS_SERVER: edge.serverUrl, UDNS_TOKEN: token, XDG_STATE_HOME: stateHome });

  beforeAll(async () => {
    if (dialect === 'postgresql') backend = await startPostgresBackend(pgBin!);
  }, 60_000);
  afterEach(async () => {
    await edge?.stop();
    if (edge) fs.rmSync(edge.dataDir, { recursive: true, force: true });
    for (const dir of stateHomes.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });
  afterAll(() => backend?.cleanup());

  /** A fresh edge with alice and bob; alice granted 500 and sending 100 to bob. */
  async function start(): Promise<{ stateHome: string }> {
    const db = await backend?.fresh();
    databaseUrl = db?.databaseUrl;
    edge = await startEdgeProcess(databaseUrl ? ['--database-url', databaseUrl] : []);
    target = db?.target ?? { dialect: 'sqlite', file: path.join(edge.dataDir, 'udns.db') };
    const store = await openAccountStore({ dataDir: edge.dataDir, databaseUrl });
    try {
      aliceToken = (await store.createAccount('alice')).token;
      await store.createAccount('bob');
    } finally {
      await store.close();
    }
    const granted = await runCli(['account', 'grant', 'alice', '500', '--key', 'alice-welcome', ...storeArgs()]);
    expect(granted.stderr).toBe('');
    const sent = await runCli(['credits', 'send', 'bob', '100', '--memo', 'slides'], { UDNS_SERVER: edge.serverUrl, UDNS_TOKEN: aliceToken });
    expect(sent.stderr).toBe('');
    const stateHome = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-ledger-state-'));
    stateHomes.push(stateHome);
    return { stateHome };
  }

  /** Runs `udns ledger verify --json` until the signed head covers both of alice's entries (heads come at most once a second). */
  async function verifiedBoth(stateHome: string): Promise<{ head: { treeSize: number }; entries: number }> {
    return eventually('a signed head with both of alice\'s entries', async () => {
      const run = await runCli(['ledger', 'verify', '--json'], as(aliceToken, stateHome));
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const result = JSON.parse(run.stdout) as { head: { treeSize: number }; entries: number };
      return result.entries === 2 ? result : undefined;
    });
  }

  test('verify pins the key and passes, audit passes; after a ledger entry is edited with plain SQL both fail with one line naming it', async () => {
    const { stateHome } = await start();
    const first = await runCli(['ledger', 'verify'], as(aliceToken, stateHome));
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^pinned the edge's ledger key [0-9a-f]{32} \(trust on first use; kept in .*ledger-127\.0\.0\.1_\d+\.json\)\nledger verified: \d+ entries, signed \S+ by [0-9a-f]{32} \(first check here\); [0-2] of yours included/);
    const both = await verifiedBoth(stateHome);
    // Seq 0 is the edge's own key; then the grant and the send.
    expect(both.head.treeSize).toBe(3);

    const again = await runCli(['ledger', 'verify'], as(aliceToken, stateHome));
    expect(again.stdout).toMatch(/^ledger verified: 3 entries, .*\(extends the head of 3 entries seen \S+\); 2 of yours included \(2 credit\)\n$/);

    const audit = await runCli(['ledger', 'audit', ...storeArgs()]);
    expect(audit.stderr).toBe('');
    expect(audit.code).toBe(0);
    expect(audit.stdout).toMatch(/^ledger audited: 3 entries chained, \d+ signed heads match .*; 2 movements add up in 3 wallets summing to 0; 0 sales agree/);

    // The send said 100; someone with the database makes it 10 in the ledger entry.
    const [[seq]] = await queryRows(target, `SELECT "ledgerSeq" FROM "CreditMovement" WHERE "kind" = 'send'`) as [[number]];
    await executeSql(target, `${DROP_TRIGGERS[dialect]} UPDATE "LedgerEntry" SET "body" = REPLACE("body", '"amount":100', '"amount":10') WHERE "seq" = ${Number(seq)}`);

    expectCleanFailure(await runCli(['ledger', 'verify'], as(aliceToken, stateHome)),
      new RegExp(`^udns: ledger verification FAILED: seq ${Number(seq)}: your credit entry is not in the signed tree of 3 entries`), 1);
    expectCleanFailure(await runCli(['ledger', 'audit', ...storeArgs()]),
      new RegExp(`^udns: ledger audit FAILED: seq ${Number(seq)}: the body does not match its leaf hash .*\\(and \\d+ more: --json lists them\\)$`), 1);
  }, 120_000);

  test('a forged tree head fails verify (not signed by the pinned key) and audit (names it)', async () => {
    const { stateHome } = await start();
    const both = await verifiedBoth(stateHome);
    // Every entry is the admin's to read, page by page; a member is pointed at their own.
    const get = (token: string, query: string) => fetch(`${edge.serverUrl}/api/v1/ledger/entries?${query}`, { headers: { authorization: `Bearer ${token}` } });
    const page = await get(edge.adminToken, 'limit=2');
    expect(page.status).toBe(200);
    expect(await page.json()).toMatchObject({ entries: [{ seq: 0, kind: 'key' }, { seq: 1, kind: 'credit' }], next: 1 });
    expect(await (await get(edge.adminToken, 'after=1&limit=2')).json()).toMatchObject({ entries: [{ seq: 2, kind: 'credit' }], next: null });
    const refused = await get(aliceToken, 'limit=2');
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ error: { code: 'forbidden', message: expect.stringMatching(/ledger\/mine for your own/) } });
    await executeSql(target, `${DROP_TRIGGERS[dialect]} UPDATE "LedgerHead" SET "rootHash" = '${'00'.repeat(32)}' WHERE "treeSize" = ${both.head.treeSize}`);
    expectCleanFailure(await runCli(['ledger', 'verify'], as(aliceToken, stateHome)),
      /^udns: ledger verification FAILED: the tree head of size 3 is not signed by the pinned ledger key [0-9a-f]{32}$/, 1);
    expectCleanFailure(await runCli(['ledger', 'audit', ...storeArgs()]),
      /^udns: ledger audit FAILED: seq 2: the signed head of size 3 does not match the entries below it/, 1);
    const json = await runCli(['ledger', 'audit', '--json', ...storeArgs()]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, problems: expect.arrayContaining([expect.objectContaining({ seq: 2, what: expect.stringMatching(/signature of the head of size 3 does not verify/) })]) });
  }, 120_000);
});
