// Test support: throwaway SQLite directories and a throwaway PostgreSQL cluster.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import { afterAll, afterEach, beforeAll, describe, test } from 'vitest';
import { isUdnsError, type ErrorCode } from '../../protocol/index.js';
import { createAdapterFactory, type DatabaseTarget } from '../../server/accounts/database-target.js';
import { findPostgresBinaries, startPostgresCluster } from '../../bench/search/private-postgres.js';

export { findPostgresBinaries };

/** A fresh, empty database for one test, as store options and as a migrator target. */
export interface TestDatabase {
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  readonly target: DatabaseTarget;
}

/** Creates fresh databases of one kind and removes them all at the end. */
export interface TestBackend {
  readonly dialect: DatabaseTarget['dialect'];
  fresh(): Promise<TestDatabase>;
  cleanup(): Promise<void>;
}

/** Temporary directories, each with its own `udns.db`. */
export function sqliteBackend(): TestBackend {
  const dirs: string[] = [];
  return {
    dialect: 'sqlite',
    async fresh() {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-accounts-'));
      dirs.push(dataDir);
      return { dataDir, databaseUrl: undefined, target: { dialect: 'sqlite', file: path.join(dataDir, 'udns.db') } };
    },
    async cleanup() {
      for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What to say when PostgreSQL is missing: CI must fail, a laptop may skip. */
export const POSTGRES_MISSING =
  'PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install them (apt-get install -y postgresql) to run the PostgreSQL tests';


/**
 * Starts a private PostgreSQL cluster (bench/search/private-postgres.ts: initdb + pg_ctl, trust
 * auth, 127.0.0.1 on a free port) and makes one database per fresh().
 */
export async function startPostgresBackend(bin: string): Promise<TestBackend> {
  const cluster = await startPostgresCluster(bin, { prefix: 'udns-pg-' });
  const { dir, url } = cluster;
  const admin = await new PrismaPg({ connectionString: url('postgres') }).connect();
  let counter = 0;
  return {
    dialect: 'postgresql',
    async fresh() {
      const database = `udns_test_${++counter}`;
      await admin.executeScript(`CREATE DATABASE ${database}`);
      const dataDir = path.join(dir, `data-dir-${counter}`);
      return { dataDir, databaseUrl: url(database), target: { dialect: 'postgresql', url: url(database) } };
    },
    async cleanup() {
      await admin.dispose();
      cluster.stop();
    },
  };
}

/** Runs one query on its own connection and returns the rows (for inspecting a database). */
export async function queryRows(target: DatabaseTarget, sql: string): Promise<unknown[][]> {
  const adapter = await createAdapterFactory(target, { foreignKeys: false }).connect();
  try {
    return (await adapter.queryRaw({ sql, args: [], argTypes: [] })).rows;
  } finally {
    await adapter.dispose();
  }
}

/** Runs statements on their own connection (for tampering with a database). */
export async function executeSql(target: DatabaseTarget, sql: string): Promise<void> {
  const adapter = await createAdapterFactory(target, { foreignKeys: false }).connect();
  try {
    await adapter.executeScript(sql);
  } finally {
    await adapter.dispose();
  }
}

/** The UdnsError a promise rejects with, as code and message (fails the test otherwise). */
export async function rejection(promise: Promise<unknown>): Promise<{ code: ErrorCode; message: string }> {
  const error = await promise.then(() => null, (e: unknown) => e);
  if (!isUdnsError(error)) throw new Error(`expected a UdnsError, got ${String(error)}`);
  return { code: error.code, message: error.message };
}

/** Registers the check that PostgreSQL is there: fails in CI, skips on a laptop without it. */
export function requirePostgresInCi(pgBin: string | null): void {
  test.runIf(pgBin === null)('PostgreSQL binaries are installed', (ctx) => {
    if (process.env.CI) throw new Error(POSTGRES_MISSING);
    ctx.skip(POSTGRES_MISSING);
  });
}

/** What a describeOnDatabases body gets: its dialect, fresh databases, and things to close after each test. */
export interface DatabaseSuite {
  readonly dialect: DatabaseTarget['dialect'];
  /** Fresh, empty databases of the suite's dialect (removed after the suite). */
  readonly backend: Pick<TestBackend, 'fresh'>;
  /** Stores, ledgers… opened by a test: closed after it, the last opened first. */
  readonly open: Array<{ close(): Promise<void> }>;
}

/**
 * `describe.each` over SQLite and, when its binaries are installed, PostgreSQL (`name` takes
 * `%s` for the dialect), with the backend started before the suite and cleaned up after it, and
 * whatever a test pushed on `open` closed after that test. The file still calls
 * requirePostgresInCi(pgBin) once.
 */
export function describeOnDatabases(name: string, body: (suite: DatabaseSuite) => void, pgBin: string | null = findPostgresBinaries()): void {
  describe.each(pgBin === null ? (['sqlite'] as const) : (['sqlite', 'postgresql'] as const))(name, (dialect) => {
    let started: TestBackend | undefined;
    const open: Array<{ close(): Promise<void> }> = [];
    beforeAll(async () => {
      started = dialect === 'sqlite' ? sqliteBackend() : await startPostgresBackend(pgBin!);
    }, 60_000);
    afterEach(async () => {
      for (const item of open.splice(0).reverse()) await item.close();
    });
    afterAll(() => started?.cleanup());
    body({
      dialect,
      backend: { fresh: () => started!.fresh() },
      open,
    });
  });
}
