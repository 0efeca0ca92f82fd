import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { ledgerLeafHash } from '../../protocol/ledger.js';
import { verifyInclusion } from '../../protocol/merkle.js';
import { openAccountStore, storeDatabase, type AccountStore } from '../../server/accounts/account-store.js';
import { openLedgerLog, type LedgerAppend, type LedgerLog } from '../../server/ledger/ledger-log.js';
import { ledgerTx } from '../../server/ledger/ledger-tx.js';
import { findPostgresBinaries, startPrivatePostgres } from '../search/private-postgres.js';

/*
 * The ledger's costs (issue 11): appends per second (one entry per transaction, the way a credit
 * movement appends, from 1 and from 8 concurrent callers), then, at LEDGER_BENCH_SIZE entries
 * (default 100,000), the first proof after a restart (the tree cache reads every leaf hash),
 * warm inclusion and consistency proofs, and signing a head. SQLite, and PostgreSQL when its
 * binaries are installed. Run: node dist/bench/ledger/ledger-bench.js
 */

const SIZE = Number(process.env.LEDGER_BENCH_SIZE ?? 100_000);
const APPENDS = Number(process.env.LEDGER_BENCH_APPENDS ?? 1_000);
const logger = pino({ level: 'silent' });

let serial = 0;
function entry(rater: number, seller: number): LedgerAppend {
  serial++;
  return { kind: 'rating', body: { saleId: serial.toString(16).padStart(32, '0'), rater, seller, score: 1 + (serial % 5), comment: `bench ${serial}` }, parties: [rater, seller] };
}

/** Wall time, and this process's CPU time (user + system: SQLite's work, not PostgreSQL's server's), which a busy machine inflates less. */
async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; cpuMs: number; value: T }> {
  const start = performance.now();
  const cpu = process.cpuUsage();
  const value = await work();
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - start, cpuMs: (used.user + used.system) / 1000, value };
}

async function bench(label: string, open: () => Promise<{ store: AccountStore; dataDir: string; databaseUrl?: string }>): Promise<void> {
  const { store, dataDir, databaseUrl } = await open();
  const db = storeDatabase(store);
  let now = Date.now();
  const ledger = await openLedgerLog(store, { dataDir, logger, now: () => now });
  const a = (await store.createAccount('alice')).account.id;
  const b = (await store.createAccount('bob')).account.id;
  const one = (log: LedgerLog) => ledgerTx(db, (tx) => log.appendIn(tx, [entry(a, b)]));

  // Baseline in the same run: a transaction that only takes the ledger lock.
  const bare = await timed(async () => { for (let i = 0; i < APPENDS; i++) await ledgerTx(db, async () => undefined); });
  const sequential = await timed(async () => { for (let i = 0; i < APPENDS; i++) await one(ledger); });
  const concurrent = await timed(() => Promise.all(Array.from({ length: 8 }, async () => { for (let i = 0; i < APPENDS / 8; i++) await one(ledger); })));
  console.log(`${label}: appends, one entry per transaction: ${(APPENDS / sequential.ms * 1000).toFixed(0)}/s from 1 caller, ${(APPENDS / concurrent.ms * 1000).toFixed(0)}/s from 8; an empty ledgerTx (lock only): ${(APPENDS / bare.ms * 1000).toFixed(0)}/s (appends at ${(bare.ms / sequential.ms * 100).toFixed(0)}% of it); CPU here per append ${(sequential.cpuMs / APPENDS).toFixed(2)} ms, per empty ledgerTx ${(bare.cpuMs / APPENDS).toFixed(2)} ms; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs`);

  // Fill up to SIZE in batches of 1,000 per transaction.
  while ((await ledger.size()) < SIZE) {
    const want = Math.min(1_000, SIZE - await ledger.size());
    await ledgerTx(db, (tx) => ledger.appendIn(tx, Array.from({ length: want }, () => entry(a, b))));
  }
  await ledger.close();

  // A restarted edge: its first proof reads every leaf hash.
  const fresh = await openLedgerLog(store, { dataDir, logger, now: () => now });
  now += 1_000;
  const head = await timed(() => fresh.head());
  const treeSize = head.value.treeSize;
  const root = Buffer.from(head.value.rootHash, 'hex');
  const seqs = Array.from({ length: 1_000 }, (_, i) => Math.floor((i * 7919) % treeSize));
  const bodies = new Map((await fresh.entries({ limit: 1 })).map((row) => [row.seq, row.body]));
  const inclusion = await timed(async () => { for (const seq of seqs) await fresh.inclusionProof(seq, treeSize); });
  const consistency = await timed(async () => { for (const seq of seqs) await fresh.consistencyProof(Math.max(1, seq), treeSize); });
  const proof = (await fresh.inclusionProof(0, treeSize)).map((node) => Buffer.from(node, 'hex'));
  const check = await timed(async () => {
    for (let i = 0; i < 1_000; i++) verifyInclusion(Buffer.from(ledgerLeafHash(bodies.get(0)!), 'hex'), 0, treeSize, proof, root);
  });
  now += 1_000;
  await ledgerTx(db, (tx) => fresh.appendIn(tx, [entry(a, b)]));
  const sign = await timed(() => fresh.head());
  console.log(`${label}: at ${treeSize} entries: first head after a restart ${head.ms.toFixed(0)} ms (reads every leaf hash), then inclusion proof ${(inclusion.ms / seqs.length * 1000).toFixed(0)} µs (CPU ${(inclusion.cpuMs / seqs.length * 1000).toFixed(0)} µs), consistency proof ${(consistency.ms / seqs.length * 1000).toFixed(0)} µs, client check of one inclusion ${(check.ms).toFixed(0)} µs (CPU ${check.cpuMs.toFixed(0)} µs), head signed after one append ${sign.ms.toFixed(1)} ms`);
  await fresh.close();
  await store.close();
  if (databaseUrl === undefined) fs.rmSync(dataDir, { recursive: true, force: true });
}

await bench('SQLite', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-ledger-bench-'));
  return { store: await openAccountStore({ dataDir }), dataDir };
});
const pgBin = findPostgresBinaries();
if (pgBin === null) console.log('PostgreSQL: skipped (no binaries under /usr/lib/postgresql/*/bin)');
else {
  const pg = await startPrivatePostgres(pgBin);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-ledger-bench-pg-'));
  await bench('PostgreSQL', async () => ({ store: await openAccountStore({ dataDir, databaseUrl: pg.url }), dataDir, databaseUrl: pg.url }));
  fs.rmSync(dataDir, { recursive: true, force: true });
  pg.stop();
}
