/*
 * `npm run bench:search`: the members' index with 1,000,000 files across 1,000 listed shares
 * (100 members with 10 shares each), on SQLite and on a private PostgreSQL cluster, in one run:
 * index build time through the real batch path (applyBatch, 500 entries a transaction), then
 * query latency p50/p95/p99 over a mixed query set (Latin words and parts, Korean, Japanese
 * and Chinese parts, two words, filters), against a baseline measured in the same run on the
 * same table: a naive LIKE '%word%' scan. Writes JSON to bench/results/.
 *
 * After the databases, the agent-side index sync of one 100,000-file share (delta-sync-bytes.ts):
 * bytes of the first sync, of a reconnect with nothing changed and of one after 10 changes.
 *
 * Environment: UDNS_SEARCH_BENCH_FILES (default 1000000), UDNS_SEARCH_BENCH_SHARES (1000),
 * UDNS_SEARCH_BENCH_ROUNDS (3), UDNS_SEARCH_BENCH_DATABASES (sqlite,postgresql),
 * UDNS_SEARCH_BENCH_SYNC_FILES (100000), UDNS_SEARCH_BENCH_SYNC_CHANGED (10).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { IndexEntry } from '../../protocol/index-sync.js';
import { openAccountStore, storeDatabase, type AccountStore } from '../../server/accounts/account-store.js';
import type { SearchIndex, SearchQuery } from '../../server/search/search-index.js';
import { SEARCH_CANDIDATES, createSearchIndex } from '../../server/search/sql-search-index.js';
import { searchKey } from '../../server/search/search-text.js';
import { formatDeltaSync, measureDeltaSync, type DeltaSyncResult } from './delta-sync-bytes.js';
import { generateFiles } from './file-names.js';
import { findPostgresBinaries, startPrivatePostgres, type PrivatePostgres } from './private-postgres.js';
import { envInt } from '../env-int.js';

const progress = (message: string): void => void process.stderr.write(`bench:search: ${message}\n`);

const FILES = envInt('UDNS_SEARCH_BENCH_FILES', 1_000_000);
const SHARES = Math.min(envInt('UDNS_SEARCH_BENCH_SHARES', 1000), FILES);
const ROUNDS = envInt('UDNS_SEARCH_BENCH_ROUNDS', 3);
const SYNC_FILES = envInt('UDNS_SEARCH_BENCH_SYNC_FILES', 100_000);
const SYNC_CHANGED = envInt('UDNS_SEARCH_BENCH_SYNC_CHANGED', 10);
const DATABASES = (process.env.UDNS_SEARCH_BENCH_DATABASES ?? 'sqlite,postgresql').split(',').map((d) => d.trim()).filter(Boolean);
const SHARES_PER_MEMBER = 10;
const BATCH = 500;
const NOW = Date.UTC(2026, 11, 2);
const LIMITS = { entriesPerShare: 1_000_000, entriesPerAccount: 10_000_000 };
/** Share of shares whose agent is offline. */
const OFFLINE_EVERY = 3;

interface BenchQuery {
  readonly category: string;
  readonly words: string[];
  readonly filters?: Partial<SearchQuery>;
}

const QUERIES: BenchQuery[] = [
  ...['report', 'vacation', 'budget', 'port', 'acat', 'invoice', 'graduation', 'screen', 'podcast', 'ales'].map((w) => ({ category: 'latin', words: [w] })),
  ...['보고서', '보고', '연말', '회의록', '계약', '사진', '여행', '발표자료', '강의', '세금계산서', '말보'].map((w) => ({ category: 'korean', words: [w] })),
  ...['議事', '旅行', '北海道', 'カタ', '报告', '会议', '照片', '财务'].map((w) => ({ category: 'ja/zh', words: [w] })),
  ...[['연말', '보고서'], ['family', 'photo'], ['2024', '보고서'], ['旅行', 'jpg'], ['final', 'pdf']].map((words) => ({ category: 'two words', words })),
  { category: 'filtered', words: ['보고서'], filters: { kind: 'pdf' } },
  { category: 'filtered', words: ['report'], filters: { kind: 'image', minSize: 100_000_000 } },
  { category: 'filtered', words: ['사진'], filters: { owner: 'member-7' } },
  { category: 'filtered', words: ['vacation'], filters: { includeOffline: false } },
  { category: 'filtered', words: ['회의'], filters: { maxSize: 1_000_000, includeOffline: false } },
  { category: 'short', words: ['서'] },
  { category: 'short', words: ['xy'] },
];

interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
  return { count: sorted.length, p50: at(50), p95: at(95), p99: at(99), max: sorted[sorted.length - 1] ?? Number.NaN };
}

interface DatabaseResult {
  database: string;
  files: number;
  shares: number;
  buildSeconds?: number;
  rowsPerSecond?: number;
  databaseBytes?: number;
  overall?: Percentiles;
  /** SQLite runs inside this process: its CPU time per query is the latency of an idle machine. */
  cpuOverall?: Percentiles;
  truncatedQueries?: number;
  byCategory?: Record<string, Percentiles>;
  baseline?: { queries: number; p50: number; max: number };
  ratioBaselineP50ToIndexP50?: number;
  matchCounts?: Record<string, number>;
  error?: string;
}

function repoRoot(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bench'))) return dir;
  }
  throw new Error('cannot find the udns checkout (package.json next to bench/)');
}

async function build(store: AccountStore, index: SearchIndex, result: DatabaseResult): Promise<void> {
  const members = Math.ceil(SHARES / SHARES_PER_MEMBER);
  const accountIds: number[] = [];
  for (let m = 0; m < members; m++) accountIds.push((await store.createAccount(`member-${m}`)).account.id);
  const started = performance.now();
  let loaded = 0;
  for (let s = 0; s < SHARES; s++) {
    const label = `share-${s}`;
    const accountId = accountIds[Math.floor(s / SHARES_PER_MEMBER)]!;
    await store.claimName(accountId, label);
    await index.openShare({ label, accountId, locked: s % 7 === 0, expiresAt: null });
    const count = Math.floor(FILES / SHARES) + (s < FILES % SHARES ? 1 : 0);
    const files = generateFiles(count, 1000 + s);
    for (let i = 0; i < files.length; i += BATCH) {
      const upserts: IndexEntry[] = files.slice(i, i + BATCH).map((f) => ({ path: f.path, size: f.size, mtime: f.mtime, type: f.type }));
      const outcome = await index.applyBatch(label, { reset: [], upserts, removes: [] }, LIMITS);
      if (!outcome.ok) throw new Error(outcome.message);
    }
    loaded += files.length;
    if (s % OFFLINE_EVERY === 1) await index.setOnline(label, false);
    if ((s + 1) % Math.max(1, Math.floor(SHARES / 10)) === 0) {
      const seconds = (performance.now() - started) / 1000;
      progress(`${result.database}: ${loaded.toLocaleString('en')} files in ${seconds.toFixed(1)} s`);
    }
  }
  result.buildSeconds = (performance.now() - started) / 1000;
  result.rowsPerSecond = Math.round(loaded / result.buildSeconds);
}

function query(q: BenchQuery): SearchQuery {
  return { words: q.words, includeOffline: true, limit: 20, offset: 0, nowMs: NOW, ...q.filters };
}

async function measureQueries(index: SearchIndex, result: DatabaseResult): Promise<void> {
  const matchCounts: Record<string, number> = {};
  for (const q of QUERIES) matchCounts[`${q.words.join(' ')}${q.filters ? ' +filter' : ''}`] = (await index.search(query(q))).total; // warm-up
  result.matchCounts = matchCounts;
  result.truncatedQueries = Object.values(matchCounts).filter((n) => n > SEARCH_CANDIDATES).length;
  const all: number[] = [];
  const cpu: number[] = [];
  const byCategory = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const q of QUERIES) {
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      await index.search(query(q));
      const ms = performance.now() - started;
      const used = process.cpuUsage(cpuBefore);
      cpu.push((used.user + used.system) / 1000);
      all.push(ms);
      byCategory.set(q.category, [...(byCategory.get(q.category) ?? []), ms]);
    }
  }
  result.overall = percentiles(all);
  if (result.database === 'sqlite') result.cpuOverall = percentiles(cpu);
  result.byCategory = Object.fromEntries([...byCategory].map(([category, samples]) => [category, percentiles(samples)]));
}

/** The naive way: LIKE '%word%' over every row, ranked by recency. One query per category. */
async function measureBaseline(store: AccountStore, result: DatabaseResult): Promise<void> {
  const { prisma, dialect } = storeDatabase(store);
  const picked = [...new Map(QUERIES.filter((q) => !q.filters).map((q) => [q.category, q])).values()];
  const samples: number[] = [];
  for (const q of picked) {
    const keys = q.words.map(searchKey);
    let n = 0;
    const param = () => (dialect === 'sqlite' ? '?' : `$${++n}`);
    const where = keys.map(() => `(f."nameKey" LIKE ${param()} OR f."folderKey" LIKE ${param()})`).join(' AND ');
    const sql = `SELECT f."id", f."path", count(*) OVER () AS "total" FROM "IndexedFile" f JOIN "ListedShare" s ON s."id" = f."shareId"
      WHERE ${where} ORDER BY f."mtime" DESC LIMIT 20`;
    const started = performance.now();
    await prisma.$queryRawUnsafe(sql, ...keys.flatMap((k) => [`%${k}%`, `%${k}%`]));
    samples.push(performance.now() - started);
  }
  const p = percentiles(samples);
  result.baseline = { queries: samples.length, p50: p.p50, max: p.max };
  if (result.overall) result.ratioBaselineP50ToIndexP50 = p.p50 / result.overall.p50;
}

async function databaseBytes(store: AccountStore, dataDir: string): Promise<number> {
  const { prisma, dialect } = storeDatabase(store);
  if (dialect === 'postgresql') {
    const [row] = await prisma.$queryRawUnsafe<{ size: bigint }[]>(`SELECT pg_database_size(current_database()) AS "size"`);
    return Number(row?.size ?? 0);
  }
  return fs.readdirSync(dataDir).filter((f) => f.startsWith('udns.db')).reduce((sum, f) => sum + fs.statSync(path.join(dataDir, f)).size, 0);
}

async function runDatabase(database: string, workDir: string): Promise<DatabaseResult> {
  const result: DatabaseResult = { database, files: FILES, shares: SHARES };
  let postgres: PrivatePostgres | undefined;
  let store: AccountStore | undefined;
  const dataDir = path.join(workDir, database);
  try {
    let databaseUrl: string | undefined;
    if (database === 'postgresql') {
      const bin = findPostgresBinaries();
      if (bin === null) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (apt-get install -y postgresql)');
      postgres = await startPrivatePostgres(bin);
      databaseUrl = postgres.url;
    } else if (database !== 'sqlite') {
      throw new Error(`unknown database ${database}: use sqlite or postgresql`);
    }
    store = await openAccountStore({ dataDir, databaseUrl });
    const index = createSearchIndex(store);
    progress(`${database}: loading ${FILES.toLocaleString('en')} files into ${SHARES} shares`);
    await build(store, index, result);
    const { prisma } = storeDatabase(store);
    // What autovacuum (PostgreSQL) or `PRAGMA optimize` would do on a live edge before long.
    await prisma.$executeRawUnsafe(database === 'sqlite' ? 'ANALYZE' : 'VACUUM ANALYZE');
    result.databaseBytes = await databaseBytes(store, dataDir);
    progress(`${database}: built in ${result.buildSeconds!.toFixed(1)} s; ${QUERIES.length} queries × ${ROUNDS} rounds`);
    await measureQueries(index, result);
    progress(`${database}: baseline LIKE scan`);
    await measureBaseline(store, result);
  } catch (error) {
    result.error = (error as Error).message;
    progress(`${database}: FAILED: ${result.error}`);
  } finally {
    await store?.close();
    postgres?.stop();
  }
  return result;
}

function formatReport(results: DatabaseResult[]): string {
  const ms = (value: number | undefined) => (value === undefined ? '-' : value.toFixed(1));
  const lines = [`members' index: ${FILES.toLocaleString('en')} files, ${SHARES} shares; latencies in ms over ${QUERIES.length} queries × ${ROUNDS} rounds`];
  lines.push('database    build s   rows/s   size MB   p50    p95    p99    max    | LIKE p50  LIKE/index');
  for (const r of results) {
    if (r.error) {
      lines.push(`${r.database.padEnd(11)} FAILED: ${r.error}`);
      continue;
    }
    lines.push([
      r.database.padEnd(11),
      ms(r.buildSeconds).padStart(7),
      String(r.rowsPerSecond ?? '-').padStart(8),
      ((r.databaseBytes ?? 0) / 1e6).toFixed(0).padStart(9),
      ms(r.overall?.p50).padStart(6),
      ms(r.overall?.p95).padStart(6),
      ms(r.overall?.p99).padStart(6),
      ms(r.overall?.max).padStart(6),
      '  |',
      ms(r.baseline?.p50).padStart(8),
      `${(r.ratioBaselineP50ToIndexP50 ?? Number.NaN).toFixed(0)}×`.padStart(11),
    ].join(' '));
    if (r.cpuOverall) {
      lines.push(`  cpu time   p50 ${ms(r.cpuOverall.p50).padStart(6)}  p95 ${ms(r.cpuOverall.p95).padStart(6)}  p99 ${ms(r.cpuOverall.p99).padStart(6)}  (in-process SQLite: the latency on an idle machine)`);
    }
    lines.push(`  ${r.truncatedQueries ?? 0} of ${QUERIES.length} queries matched more than ${SEARCH_CANDIDATES} files (ranked the first ${SEARCH_CANDIDATES}, truncated)`);
    for (const [category, p] of Object.entries(r.byCategory ?? {})) {
      lines.push(`  ${category.padEnd(10)} p50 ${ms(p.p50).padStart(6)}  p95 ${ms(p.p95).padStart(6)}  p99 ${ms(p.p99).padStart(6)}  (${p.count} samples)`);
    }
  }
  return lines.join('\n');
}

async function main(): Promise<number> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-search-bench-'));
  const cleanup = () => fs.rmSync(workDir, { recursive: true, force: true });
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => process.exit(130));
  const startedAt = new Date().toISOString();
  const results: DatabaseResult[] = [];
  for (const database of DATABASES) results.push(await runDatabase(database, workDir));
  const load = os.loadavg();
  progress(`index sync bytes: ${SYNC_FILES.toLocaleString('en')} files, ${SYNC_CHANGED} changed`);
  let sync: DeltaSyncResult | { error: string };
  try {
    sync = await measureDeltaSync(SYNC_FILES, SYNC_CHANGED);
  } catch (error) {
    sync = { error: (error as Error).message };
    progress(`index sync bytes: FAILED: ${sync.error}`);
  }
  const syncReport = 'error' in sync ? `index sync bytes: FAILED: ${sync.error}` : formatDeltaSync(sync);
  const report = formatReport(results);
  console.log(`\n${report}\n\nload during the search runs: ${load.map((l) => l.toFixed(2)).join(' ')}; ${os.cpus().length} cpus\n\n${syncReport}`);
  const resultsDir = path.join(repoRoot(), 'bench', 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `search-${startedAt.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, `${JSON.stringify({ startedAt, finishedAt: new Date().toISOString(), files: FILES, shares: SHARES, rounds: ROUNDS, queries: QUERIES, machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, loadAverage: load }, results, indexSync: sync }, null, 2)}\n`);
  console.log(`results written to ${path.relative(process.cwd(), file) || file}`);
  return results.some((r) => r.error) || 'error' in sync ? 1 : 0;
}

process.exitCode = await main();
