import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openAccountStore, storeDatabase, type AccountStore } from '../../server/accounts/account-store.js';
import { openCreditBook, type CreditBook } from '../../server/ledger/credit-book.js';
import { auditLedger } from '../../server/ledger/ledger-audit.js';
import { openLedgerLog, type LedgerLog } from '../../server/ledger/ledger-log.js';
import { SeededRandom } from '../helpers/seeded-random.js';
import { startEdgeProcess, type EdgeProcess } from '../helpers/edge-process.js';
import { eventually } from '../helpers/eventually.js';
import { PACKAGE_ROOT, runCli, spawnCli } from '../helpers/test-agent.js';
import { findPostgresBinaries, queryRows, requirePostgresInCi, sqliteBackend, startPostgresBackend, type TestBackend, type TestDatabase } from '../helpers/test-databases.js';

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);

interface PlannedSend { from: number; to: number; amount: number; key: string }

/**
 * The sender: a separate node process on the built code (dist/) with its own connection(s) to
 * the database, running `calls` (every planned send twice, the second time later, as a client
 * retrying after a timeout would) eight at a time; each call retried up to 3 times on an error
 * with the same key. It prints one line per call once the book answered: moved / replayed /
 * refused <key>.
 */
const SENDER = `
const root = process.env.UDNS_ROOT;
const { openAccountStore } = await import(root + '/dist/server/accounts/account-store.js');
const { openLedgerLog } = await import(root + '/dist/server/ledger/ledger-log.js');
const { openCreditBook } = await import(root + '/dist/server/ledger/credit-book.js');
const { createLogger } = await import(root + '/dist/server/logger.js');
const fs = await import('node:fs');
const calls = JSON.parse(fs.readFileSync(process.env.PLAN, 'utf8'));
const options = { dataDir: process.env.DATA_DIR, databaseUrl: process.env.DATABASE_URL || undefined };
const store = await openAccountStore(options);
const ledger = await openLedgerLog(store, { dataDir: options.dataDir, logger: createLogger('silent') });
const book = openCreditBook(store, ledger);
let next = 0;
async function worker() {
  while (next < calls.length) {
    const call = calls[next++];
    for (let attempt = 0; ; attempt++) {
      try {
        const { replayed } = await book.move({ actor: 'member:' + call.from, idempotencyKey: call.key, kind: 'send', from: { member: call.from }, to: { member: call.to }, amount: call.amount });
        process.stdout.write((replayed ? 'replayed ' : 'moved ') + call.key + '\\n');
        break;
      } catch (error) {
        if (error.code === 'insufficient_credits') { process.stdout.write('refused ' + call.key + '\\n'); break; }
        if (attempt >= 3) { process.stdout.write('failed ' + call.key + ' ' + String(error.message).split('\\n')[0] + '\\n'); break; }
      }
    }
  }
}
await Promise.all(Array.from({ length: 8 }, worker));
await ledger.close();
await store.close();
`;

function startSender(db: TestDatabase, planFile: string): { child: ChildProcess; lines: () => string[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', SENDER], {
    cwd: PACKAGE_ROOT,
    env: { ...process.env, UDNS_ROOT: PACKAGE_ROOT, PLAN: planFile, DATA_DIR: db.dataDir, DATABASE_URL: db.databaseUrl ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => { out += chunk; });
  child.stderr!.on('data', (chunk: Buffer) => { err += chunk; });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    if (code !== 0 && code !== null) process.stderr.write(`sender exited ${code}: ${err}\n`);
    resolve(code);
  }));
  return { child, lines: () => out.split('\n').filter(Boolean), exited };
}

const keysOf = (lines: string[], verb: string): Set<string> => new Set(lines.filter((line) => line.startsWith(`${verb} `)).map((line) => line.split(' ')[1]!));

describe.each(pgBin === null ? (['sqlite'] as const) : (['sqlite', 'postgresql'] as const))('a sender killed with SIGKILL in the middle of its sends, on %s', (dialect) => {
  let backend: TestBackend;
  let work: string;
  const open: Array<{ close(): Promise<void> }> = [];
  beforeAll(async () => {
    backend = dialect === 'sqlite' ? sqliteBackend() : await startPostgresBackend(pgBin!);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-credits-crash-'));
  }, 60_000);
  afterAll(async () => {
    for (const item of open.splice(0).reverse()) await item.close();
    await backend?.cleanup();
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('restarted and retried with the same keys: every send moved at most once, the killed run\'s sends are replayed not repeated, the books balance and the audit passes', async () => {
    const db = await backend.fresh();
    const store: AccountStore = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    open.push(store);
    const ledger: LedgerLog = await openLedgerLog(store, { dataDir: db.dataDir, logger: pino({ level: 'silent' }) });
    open.push(ledger);
    const book: CreditBook = openCreditBook(store, ledger);
    const members: number[] = [];
    for (const name of ['ann', 'ben', 'cat', 'dan', 'eve']) members.push((await store.createAccount(name)).account.id);
    for (const id of members) await book.move({ actor: 'operator', idempotencyKey: `seed-grant-${id}`, kind: 'grant', from: 'issuance', to: { member: id }, amount: 500 });

    const random = SeededRandom.fromEnv(process.env.CRASH_SEED);
    console.log(`credits crash on ${dialect}: seed ${random.seed} (CRASH_SEED=${random.seed} replays it)`);
    const plan: PlannedSend[] = Array.from({ length: 300 }, (_, i) => {
      const from = members[Math.floor(random.next() * members.length)]!;
      const others = members.filter((m) => m !== from);
      return { from, to: others[Math.floor(random.next() * others.length)]!, amount: 1 + Math.floor(random.next() * 40), key: `crash-send-${i}` };
    });
    // Every send twice: the first time in order, the second (a retry) 40 calls later.
    const calls: PlannedSend[] = [];
    plan.forEach((send, i) => {
      calls.push(send);
      if (i >= 40) calls.push(plan[i - 40]!);
    });
    calls.push(...plan.slice(-40));
    const planFile = path.join(work, `plan-${dialect}.json`);
    fs.writeFileSync(planFile, JSON.stringify(calls));

    // Run 1: killed once a quarter of the sends have moved, with more in flight.
    const first = startSender(db, planFile);
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (keysOf(first.lines(), 'moved').size >= plan.length / 4) {
          clearInterval(timer);
          first.child.kill('SIGKILL');
          resolve();
        }
      }, 5);
      void first.exited.then(() => {
        clearInterval(timer);
        reject(new Error(`the sender ended before it was killed: ${first.lines().slice(-3).join(' | ')}`));
      });
    });
    await first.exited.catch(() => undefined);
    const reportedFirst = keysOf(first.lines(), 'moved');
    const afterCrash = new Set((await queryRows(db.target, `SELECT "idempotencyKey" FROM "CreditMovement" WHERE "kind" = 'send'`)).map((row) => String(row[0])));
    // What the sender was told had moved is there; what was in flight either committed whole or not at all.
    for (const key of reportedFirst) expect(afterCrash.has(key)).toBe(true);
    expect(afterCrash.size).toBeLessThan(plan.length);
    expect((await book.totals()).sum).toBe(0n);

    // Run 2: the same calls, the same keys, to the end.
    const second = startSender(db, planFile);
    expect(await second.exited).toBe(0);
    const lines = second.lines();
    expect(lines.filter((line) => line.startsWith('failed '))).toEqual([]);
    const movedSecond = keysOf(lines, 'moved');
    // Nothing the first run moved moved again: the retry found it.
    for (const key of afterCrash) {
      expect(movedSecond.has(key)).toBe(false);
      expect(keysOf(lines, 'replayed').has(key)).toBe(true);
    }

    const rows = await queryRows(db.target, `SELECT "idempotencyKey", "fromWalletId", "toWalletId", "amount" FROM "CreditMovement" WHERE "kind" = 'send'`);
    const moved = rows.map((row) => String(row[0]));
    expect(new Set(moved).size).toBe(moved.length);
    expect(new Set(moved)).toEqual(new Set([...afterCrash, ...movedSecond]));
    // Balances are exactly the grants plus what the movements say, and nobody is below zero.
    const planned = new Map(plan.map((send) => [send.key, send]));
    const expected = new Map(members.map((id) => [id, 500]));
    for (const key of moved) {
      const send = planned.get(key)!;
      expected.set(send.from, expected.get(send.from)! - send.amount);
      expected.set(send.to, expected.get(send.to)! + send.amount);
    }
    for (const id of members) {
      const { available } = await book.balances(id);
      expect(available).toBe(expected.get(id));
      expect(available).toBeGreaterThanOrEqual(0);
    }
    expect((await book.totals()).sum).toBe(0n);
    const { report } = await auditLedger(storeDatabase(store));
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, movements: moved.length + members.length, walletSum: '0' });
  }, 300_000);

  // SQLite only in npm test (CI's 15 minutes): PostgreSQL's side of a crash mid-send is the
  // killed sender above; the edge's own recovery is the same code on both.
  test.runIf(dialect === 'sqlite')('the edge killed with SIGKILL while udns credits send runs: after the restart the same commands with their keys finish every send exactly once', async () => {
    const db = await backend.fresh();
    const dbArgs = db.databaseUrl ? ['--database-url', db.databaseUrl] : [];
    let edge: EdgeProcess = await startEdgeProcess(dbArgs, { dataDir: db.dataDir });
    try {
      const tokens = new Map<string, string>();
      for (const name of ['ann', 'ben']) {
        const file = path.join(work, `${dialect}-${name}.token`);
        expect((await runCli(['account', 'create', name, '--token-file', file, '--data-dir', db.dataDir, ...dbArgs])).code).toBe(0);
        tokens.set(name, fs.readFileSync(file, 'utf8').trim());
      }
      expect((await runCli(['account', 'grant', 'ann', '1000', '--data-dir', db.dataDir, ...dbArgs])).code).toBe(0);
      const count = 12;
      const send = (i: number, server: string) => spawnCli(['credits', 'send', 'ben', '3', '--key', `edge-crash-${i}`], { UDNS_SERVER: server, UDNS_TOKEN: tokens.get('ann')! });
      const first = Array.from({ length: count }, (_, i) => send(i, edge.serverUrl));
      const store = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
      open.push(store);
      const sends = async () => Number((await queryRows(db.target, `SELECT COUNT(*) FROM "CreditMovement" WHERE "kind" = 'send'`))[0]![0]);
      // Killed once the first send has answered: the others are starting, in flight, or answered but not yet read.
      await eventually('a first send answered', () => (first.some((cli) => /^sent /.test(cli.stdout())) ? true : undefined), { timeoutMs: 120_000 });
      edge.cli.child.kill('SIGKILL');
      await edge.cli.exited;
      const results = await Promise.all(first.map(async (cli) => ({ code: (await cli.exited).code, out: cli.stdout(), err: cli.stderr() })));
      const told = results.filter((r) => r.code === 0).length;
      expect(told).toBeGreaterThan(0);
      // Those that failed said how to finish: the same command with the key.
      for (const r of results.filter((r) => r.code !== 0)) expect(r.err).toMatch(/run the same command again with --key edge-crash-\d+ to finish it without paying twice/);

      edge = await startEdgeProcess(dbArgs, { dataDir: db.dataDir });
      const again = await Promise.all(Array.from({ length: count }, async (_, i) => {
        const cli = send(i, edge.serverUrl);
        return { code: (await cli.exited).code, out: cli.stdout(), wasTold: results[i]!.code === 0 };
      }));
      for (const r of again) {
        expect(r.code).toBe(0);
        // What the first run reported as sent is found, not sent again.
        if (r.wasTold) expect(r.out).toMatch(/^already sent 3 credits to ben/);
      }
      const ledger = await openLedgerLog(store, { dataDir: db.dataDir, logger: pino({ level: 'silent' }) });
      open.push(ledger);
      const book = openCreditBook(store, ledger);
      const ids = new Map((await store.listAccounts()).map((a) => [a.name, a.id]));
      expect(await book.balances(ids.get('ben')!)).toEqual({ available: 3 * count, held: 0 });
      expect(await book.balances(ids.get('ann')!)).toEqual({ available: 1000 - 3 * count, held: 0 });
      expect(await sends()).toBe(count);
      expect((await book.totals()).sum).toBe(0n);
      const { report } = await auditLedger(storeDatabase(store));
      expect(report.problems).toEqual([]);
      console.log(`credits edge crash on ${dialect}: ${told} of ${count} sends reported before the kill, all ${count} moved once after the retries`);
    } finally {
      await edge.stop();
    }
  }, 300_000);
});
