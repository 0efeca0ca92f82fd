import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { DatabaseTarget, Dialect } from './database-target.js';
import { findPackageRoot, migrateDatabase, migrationChecksum, migrationsDirectory, readMigrations } from './migrator.js';
import {
  executeSql, findPostgresBinaries, queryRows, rejection, requirePostgresInCi, sqliteBackend, startPostgresBackend, type TestBackend,
} from '../../test/helpers/test-databases.js';
import { isRawSearchObject, RAW_SEARCH_OBJECTS } from '../search/search-schema.js';
import { RAW_LEDGER_OBJECTS } from '../ledger/ledger-schema.js';
import { RAW_TRANSFER_OBJECTS } from '../transfers/transfer-schema.js';

const root = findPackageRoot();
const pgBin = findPostgresBinaries();
const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
});

/** A private copy of the shipped migrations, to edit or extend. */
function copyMigrations(dialect: Dialect): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-migrations-'));
  scratch.push(dir);
  fs.cpSync(migrationsDirectory(dialect, root), dir, { recursive: true });
  return dir;
}

function addMigration(dir: string, name: string, sql: string): void {
  fs.mkdirSync(path.join(dir, name));
  fs.writeFileSync(path.join(dir, name, 'migration.sql'), sql);
}

async function history(target: DatabaseTarget): Promise<Array<{ name: string; finished: boolean; steps: number; checksum: string }>> {
  const rows = await queryRows(
    target,
    `SELECT migration_name, CASE WHEN finished_at IS NULL THEN 0 ELSE 1 END, applied_steps_count, checksum
     FROM _prisma_migrations ORDER BY migration_name`,
  );
  return rows.map((r) => ({ name: String(r[0]), finished: Number(r[1]) === 1, steps: Number(r[2]), checksum: String(r[3]) }));
}

async function tableNames(target: DatabaseTarget): Promise<string[]> {
  const sql = target.dialect === 'sqlite'
    ? `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`
    : `SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`;
  return (await queryRows(target, sql)).map((r) => String(r[0]));
}

/** Runs the Prisma CLI offline (its schema engine as WebAssembly through prisma.config.ts). */
function prismaCli(args: string[], sqliteFile = path.join(os.tmpdir(), 'udns-unused.db')) {
  return promisify(execFile)(path.join(root, 'node_modules', '.bin', 'prisma'), args, {
    cwd: root,
    env: {
      ...process.env,
      UDNS_PRISMA_SQLITE_FILE: sqliteFile,
      PRISMA_QUERY_ENGINE_LIBRARY: '/bin/false',
      PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false',
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
      CHECKPOINT_DISABLE: '1',
    },
  });
}

/** Tables, columns, indexes and constraints, in a form two databases can be compared by. */
async function schemaShape(target: DatabaseTarget): Promise<unknown[][]> {
  // The full-text objects come from raw SQL the Prisma schema cannot express (search-schema.ts).
  const prismaOnly = (rows: unknown[][], column: number) => rows.filter((row) => !isRawSearchObject(target.dialect, String(row[column])) && !RAW_TRANSFER_OBJECTS[target.dialect].includes(String(row[column]))
    && !RAW_LEDGER_OBJECTS[target.dialect].includes(String(row[column])));
  if (target.dialect === 'sqlite') {
    // Whitespace aside: ALTER TABLE … ADD COLUMN appends to the stored CREATE text on one line.
    const rows = prismaOnly(await queryRows(target, `SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name != '_prisma_migrations' ORDER BY name`), 1);
    // (and with a space before the comma: `… DEFAULT CURRENT_TIMESTAMP , "suspendedAt" DATETIME)`).
    return rows.map(([type, name, sql]) => [type, name, String(sql).replace(/\s+/g, ' ').replace(/ ?([(),]) ?/g, '$1')]);
  }
  const columns = await queryRows(target, `SELECT table_name::text, column_name::text, data_type::text, is_nullable::text, column_default::text
    FROM information_schema.columns WHERE table_schema = 'public' AND table_name != '_prisma_migrations' ORDER BY table_name, column_name`);
  const indexes = await queryRows(target, `SELECT indexname::text, indexdef::text FROM pg_indexes WHERE schemaname = 'public' AND tablename != '_prisma_migrations' ORDER BY indexname`);
  const constraints = await queryRows(target, `SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint
    WHERE connamespace = 'public'::regnamespace AND conname NOT LIKE '_prisma_migrations%' ORDER BY conname`);
  return [...columns, ...prismaOnly(indexes, 0), ...prismaOnly(constraints, 0)];
}

requirePostgresInCi(pgBin);

describe.each(pgBin === null ? (['sqlite'] as const) : (['sqlite', 'postgresql'] as const))('migrator on %s', (dialect) => {
  let backend: TestBackend;
  beforeAll(async () => {
    backend = dialect === 'sqlite' ? sqliteBackend() : await startPostgresBackend(pgBin!);
  }, 60_000);
  afterAll(() => backend?.cleanup());

  test('an empty database gets the tables and one finished history row per migration', async () => {
    const { target } = await backend.fresh();
    const shipped = readMigrations(migrationsDirectory(dialect, root), dialect);
    const report = await migrateDatabase(target);
    expect(report.applied).toEqual(shipped.map((m) => m.name));
    expect((await tableNames(target)).filter((name) => !isRawSearchObject(dialect, name))).toEqual(['Account', 'AccountLimits', 'ConsoleLoginCode', 'ConsoleSession', 'CreditMovement', 'CustomDomain', 'DnsRecord', 'IndexedFile', 'LedgerEntry', 'LedgerHead', 'LedgerParty', 'ListedShare', 'Name', 'Rating', 'Sale', 'SigningKey', 'Token', 'TrafficHour', 'TransferRecord', 'TrustScore', 'Wallet', '_prisma_migrations']);
    expect(await history(target)).toEqual(shipped.map((m) => ({ name: m.name, finished: true, steps: 1, checksum: m.checksum })));
  });

  test('the shipped migrations build exactly the model in the Prisma schema', async () => {
    const migrated = (await backend.fresh()).target;
    await migrateDatabase(migrated);
    const schemaFile = dialect === 'sqlite' ? 'prisma/schema.prisma' : 'prisma/postgres/schema.prisma';
    const { stdout: wholeModel } = await prismaCli(['migrate', 'diff', '--from-empty', '--to-schema-datamodel', schemaFile, '--script']);
    const direct = (await backend.fresh()).target;
    await executeSql(direct, wholeModel);
    expect(await schemaShape(migrated)).toEqual(await schemaShape(direct));
    const objects = dialect === 'sqlite'
      ? `SELECT name FROM sqlite_master WHERE name LIKE 'IndexedFile%' ORDER BY name`
      : `SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname`;
    const present = (await queryRows(migrated, objects)).map((row) => String(row[0]));
    expect(present).toEqual(expect.arrayContaining([...RAW_SEARCH_OBJECTS[dialect]]));
  }, 60_000);

  test('a database from before DNS records gets the DnsRecord table and keeps its names', async () => {
    const { target } = await backend.fresh();
    const dir = copyMigrations(dialect);
    fs.rmSync(path.join(dir, '20261125130000_dns_records'), { recursive: true });
    await migrateDatabase(target, { migrationsDir: dir });
    await executeSql(target, `INSERT INTO "Account" ("id", "name") VALUES (1, 'alice'); INSERT INTO "Name" ("id", "label", "accountId") VALUES (7, 'alicepc', 1);`);
    expect((await migrateDatabase(target)).applied).toEqual(['20261125130000_dns_records']);
    await executeSql(target, `INSERT INTO "DnsRecord" ("nameId", "host", "type", "value", "updatedAt") VALUES (7, '', 'A', '203.0.113.7', CURRENT_TIMESTAMP);`);
    const rows = await queryRows(target, `SELECT n."label", r."type", r."value", r."ttl" FROM "DnsRecord" r JOIN "Name" n ON n."id" = r."nameId"`);
    expect(rows.map(([label, type, value, ttl]) => [label, type, value, Number(ttl)])).toEqual([['alicepc', 'A', '203.0.113.7', 60]]);
  });

  test('a second run applies nothing and writes nothing', async () => {
    const { target } = await backend.fresh();
    await migrateDatabase(target);
    const before = await queryRows(target, 'SELECT * FROM _prisma_migrations');
    expect((await migrateDatabase(target)).applied).toEqual([]);
    expect(await queryRows(target, 'SELECT * FROM _prisma_migrations')).toEqual(before);
  });

  test('a new migration is applied on the next start', async () => {
    const { target } = await backend.fresh();
    const dir = copyMigrations(dialect);
    await migrateDatabase(target, { migrationsDir: dir });
    addMigration(dir, '20261201000000_extra', 'CREATE TABLE "Extra" ("id" INTEGER NOT NULL);\n');
    expect((await migrateDatabase(target, { migrationsDir: dir })).applied).toEqual(['20261201000000_extra']);
    expect(await tableNames(target)).toContain('Extra');
  });

  test('refuses to start when an applied migration was edited', async () => {
    const { target } = await backend.fresh();
    const dir = copyMigrations(dialect);
    await migrateDatabase(target, { migrationsDir: dir });
    const [first] = readMigrations(dir, dialect);
    fs.appendFileSync(path.join(dir, first!.name, 'migration.sql'), '-- edited\n');
    const error = await rejection(migrateDatabase(target, { migrationsDir: dir }));
    expect(error.code).toBe('config_invalid');
    expect(error.message).toContain(`migration ${first!.name} was edited after it was applied`);
  });

  test('accepts the same file checked out with CRLF line endings', async () => {
    const { target } = await backend.fresh();
    const dir = copyMigrations(dialect);
    await migrateDatabase(target, { migrationsDir: dir });
    for (const m of readMigrations(dir, dialect)) {
      fs.writeFileSync(path.join(dir, m.name, 'migration.sql'), m.script.replace(/\n/g, '\r\n'));
    }
    expect((await migrateDatabase(target, { migrationsDir: dir })).applied).toEqual([]);
  });

  test('refuses to start while a failed migration is recorded', async () => {
    const { target } = await backend.fresh();
    const dir = copyMigrations(dialect);
    await migrateDatabase(target, { migrationsDir: dir });
    addMigration(dir, '20261201000000_half', 'CREATE TABLE "Half" ("id" INTEGER);\n');
    // What `prisma migrate deploy` leaves behind when a script fails.
    await executeSql(
      target,
      `INSERT INTO _prisma_migrations (id, checksum, migration_name, logs, started_at, applied_steps_count)
       VALUES ('00000000-0000-4000-8000-000000000000', '${migrationChecksum('x')}', '20261201000000_half', 'boom', '2026-11-25T00:00:00.000+00:00', 0)`,
    );
    const error = await rejection(migrateDatabase(target, { migrationsDir: dir }));
    expect(error.code).toBe('config_invalid');
    expect(error.message).toContain('migration 20261201000000_half failed earlier');
    expect(error.message).toContain('prisma migrate resolve --rolled-back 20261201000000_half');
  });

  test('refuses a database with a migration this version does not ship', async () => {
    const { target } = await backend.fresh();
    const newer = copyMigrations(dialect);
    addMigration(newer, '20261201000000_newer', 'CREATE TABLE "Newer" ("id" INTEGER);\n');
    await migrateDatabase(target, { migrationsDir: newer });
    const error = await rejection(migrateDatabase(target));
    expect(error.code).toBe('config_invalid');
    expect(error.message).toContain('20261201000000_newer, which this udns version does not ship');
  });

  test('a failing migration is rolled back, not recorded, and retried on the next start', async () => {
    const { target } = await backend.fresh();
    const dir = copyMigrations(dialect);
    await migrateDatabase(target, { migrationsDir: dir });
    addMigration(dir, '20261201000000_broken', 'CREATE TABLE "Half" ("id" INTEGER);\nSELECT * FROM "NoSuchTable";\n');
    const error = await rejection(migrateDatabase(target, { migrationsDir: dir }));
    expect(error.code).toBe('internal');
    expect(error.message).toContain('migration 20261201000000_broken failed');
    expect(await tableNames(target)).not.toContain('Half');
    expect((await history(target)).map((h) => h.name)).not.toContain('20261201000000_broken');

    fs.writeFileSync(path.join(dir, '20261201000000_broken', 'migration.sql'), 'CREATE TABLE "Half" ("id" INTEGER);\n');
    expect((await migrateDatabase(target, { migrationsDir: dir })).applied).toEqual(['20261201000000_broken']);
  });

  test('migrators starting at once apply each migration exactly once', async () => {
    const { target } = await backend.fresh();
    const dir = copyMigrations(dialect);
    addMigration(dir, '20261201000000_second', 'CREATE TABLE "Second" ("id" INTEGER);\n');
    const reports = await Promise.all([1, 2, 3, 4].map(() => migrateDatabase(target, { migrationsDir: dir })));
    expect(reports.flatMap((r) => r.applied).sort()).toEqual(readMigrations(dir, dialect).map((m) => m.name));
    expect((await history(target)).map((h) => h.name)).toEqual(readMigrations(dir, dialect).map((m) => m.name));
  });

  test('a migration with its own BEGIN/COMMIT runs unwrapped on PostgreSQL and is refused on SQLite', async () => {
    const { target } = await backend.fresh();
    const dir = copyMigrations(dialect);
    addMigration(dir, '20261201000000_wrapped', 'BEGIN;\nCREATE TABLE "Wrapped" ("id" INTEGER);\nCOMMIT;\n');
    if (dialect === 'sqlite') {
      const error = await rejection(migrateDatabase(target, { migrationsDir: dir }));
      expect(error).toMatchObject({ code: 'config_invalid', message: expect.stringContaining('has its own BEGIN/COMMIT') });
    } else {
      expect((await migrateDatabase(target, { migrationsDir: dir })).applied).toContain('20261201000000_wrapped');
      expect(await tableNames(target)).toContain('Wrapped');
      expect((await history(target)).every((h) => h.finished && h.steps === 1)).toBe(true);

      // Such a script can fail half-way, so its failure is recorded and blocks the next start.
      addMigration(dir, '20261202000000_half', 'BEGIN;\nCREATE TABLE "Half" ("id" INTEGER);\nSELECT * FROM "NoSuchTable";\nCOMMIT;\n');
      const failed = await rejection(migrateDatabase(target, { migrationsDir: dir }));
      expect(failed).toMatchObject({ code: 'internal', message: expect.stringContaining('it is recorded as failed') });
      expect(await history(target)).toContainEqual(expect.objectContaining({ name: '20261202000000_half', finished: false, steps: 0 }));
      const blocked = await rejection(migrateDatabase(target, { migrationsDir: dir }));
      expect(blocked).toMatchObject({ code: 'config_invalid', message: expect.stringContaining('20261202000000_half failed earlier') });
    }
  });

  test.runIf(dialect === 'postgresql')('_prisma_migrations has the columns Prisma creates on PostgreSQL', async () => {
    const { target } = await backend.fresh();
    await migrateDatabase(target);
    const columns = await queryRows(
      target,
      `SELECT column_name::text, data_type::text, character_maximum_length::int, is_nullable::text, column_default::text
       FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
    );
    expect(columns).toEqual([
      ['id', 'character varying', 36, 'NO', null],
      ['checksum', 'character varying', 64, 'NO', null],
      ['finished_at', 'timestamp with time zone', null, 'YES', null],
      ['migration_name', 'character varying', 255, 'NO', null],
      ['logs', 'text', null, 'YES', null],
      ['rolled_back_at', 'timestamp with time zone', null, 'YES', null],
      ['started_at', 'timestamp with time zone', null, 'NO', 'now()'],
      ['applied_steps_count', 'integer', null, 'NO', '0'],
    ]);
  });
}, 30_000);

describe('migrator and the Prisma CLI on SQLite', () => {
  const backend = sqliteBackend();
  afterAll(() => backend.cleanup());
  const prisma = (args: string[], file: string) => prismaCli(args, file);

  test('after our migrator, prisma migrate status and deploy find nothing to do', async () => {
    const { target } = await backend.fresh();
    if (target.dialect !== 'sqlite') throw new Error('unreachable');
    await migrateDatabase(target);
    const before = await queryRows(target, 'SELECT * FROM _prisma_migrations');

    const status = await prisma(['migrate', 'status'], target.file);
    expect(status.stdout).toContain('Database schema is up to date!');
    const deploy = await prisma(['migrate', 'deploy'], target.file);
    expect(deploy.stdout).toContain('No pending migrations to apply.');
    expect(await queryRows(target, 'SELECT * FROM _prisma_migrations')).toEqual(before);
  }, 60_000);

  test('a database made by prisma migrate deploy is identical and accepted by our migrator', async () => {
    const ours = (await backend.fresh()).target;
    const theirs = (await backend.fresh()).target;
    if (theirs.dialect !== 'sqlite') throw new Error('unreachable');
    await migrateDatabase(ours);
    await prisma(['migrate', 'deploy'], theirs.file);

    const schema = `SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name`;
    expect(await queryRows(ours, schema)).toEqual(await queryRows(theirs, schema));
    const columns = `SELECT migration_name, checksum, logs, rolled_back_at, applied_steps_count,
      typeof(started_at), length(started_at), typeof(finished_at), length(finished_at), length(id) FROM _prisma_migrations`;
    expect(await queryRows(ours, columns)).toEqual(await queryRows(theirs, columns));
    expect((await migrateDatabase(theirs)).applied).toEqual([]);
  }, 60_000);

  test('a table-redefining migration keeps the rows of child tables', async () => {
    // The shape of Prisma's SQLite "RedefineTables" migrations; with foreign keys enforced,
    // DROP TABLE "Account" would cascade-delete every token.
    const { target } = await backend.fresh();
    const dir = copyMigrations('sqlite');
    await migrateDatabase(target, { migrationsDir: dir });
    await executeSql(
      target,
      `INSERT INTO "Account" ("id", "name") VALUES (1, 'alice');
       INSERT INTO "Token" ("accountId", "hash", "prefix") VALUES (1, 'h', 'udns_x');`,
    );
    addMigration(dir, '20261201000000_redefine', `PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Account" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "note" TEXT NOT NULL DEFAULT '',
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
INSERT INTO "new_Account" ("createdAt", "id", "name") SELECT "createdAt", "id", "name" FROM "Account";
DROP TABLE "Account";
ALTER TABLE "new_Account" RENAME TO "Account";
CREATE UNIQUE INDEX "Account_name_key" ON "Account"("name");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
`);
    expect((await migrateDatabase(target, { migrationsDir: dir })).applied).toEqual(['20261201000000_redefine']);
    expect((await queryRows(target, 'SELECT "accountId", "prefix" FROM "Token"')).map(([id, prefix]) => [Number(id), prefix])).toEqual([[1, 'udns_x']]);
  });

  test('a migration that breaks a foreign key is rolled back', async () => {
    const { target } = await backend.fresh();
    const dir = copyMigrations('sqlite');
    await migrateDatabase(target, { migrationsDir: dir });
    addMigration(dir, '20261201000000_orphan', `INSERT INTO "Token" ("accountId", "hash", "prefix") VALUES (42, 'h', 'udns_x');\n`);
    const error = await rejection(migrateDatabase(target, { migrationsDir: dir }));
    expect(error.message).toContain('foreign-key violation');
    expect(Number((await queryRows(target, 'SELECT count(*) FROM "Token"'))[0]![0])).toBe(0);
  });

  test('the database is in WAL mode', async () => {
    const { target } = await backend.fresh();
    await migrateDatabase(target);
    expect(await queryRows(target, 'PRAGMA journal_mode')).toEqual([['wal']]);
  });
});

describe('finding the migrations', () => {
  test('the package root is found from the source and from the built dist/ layout', () => {
    expect(findPackageRoot(path.join(root, 'server', 'accounts'))).toBe(root);
    expect(findPackageRoot(path.join(root, 'dist', 'server', 'accounts'))).toBe(root);
    expect(fs.existsSync(path.join(root, 'package.json'))).toBe(true);
  });

  test('a lock file for the other provider is refused', () => {
    expect(() => readMigrations(migrationsDirectory('postgresql', root), 'sqlite')).toThrow(/is for postgresql, not sqlite/);
  });

  test('checksums are the hex SHA-256 of the file bytes', () => {
    const [init] = readMigrations(migrationsDirectory('sqlite', root), 'sqlite');
    const bytes = fs.readFileSync(path.join(migrationsDirectory('sqlite', root), init!.name, 'migration.sql'));
    expect(init!.checksum).toBe(migrationChecksum(bytes));
    expect(init!.checksum).toMatch(/^[0-9a-f]{64}$/);
  });
});
