import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UdnsError } from '../../protocol/errors.js';
import { describeTarget, type DatabaseTarget, type Dialect } from './database-target.js';
import { driverMessage, PostgresSession, SqliteSession, type MigrationSession } from './migration-session.js';

/** One `<name>/migration.sql` from a migrations folder. */
export interface MigrationFile {
  /** Folder name, e.g. `20261125000000_init`; migrations apply in this order. */
  readonly name: string;
  /** The SQL, as UTF-8 text. */
  readonly script: string;
  /** Hex SHA-256 of the file's bytes, as Prisma records it. */
  readonly checksum: string;
}

/** What one migrator run did. */
export interface MigrationReport {
  /** Names of the migrations this run applied, in order (empty when the database was current). */
  readonly applied: string[];
  /** Number of migrations in the folder. */
  readonly known: number;
}

// The exact DDL of Prisma 6.19's schema engine, so `prisma migrate status|deploy` read our rows.
const HISTORY_TABLE_DDL: Record<Dialect, string> = {
  sqlite: `CREATE TABLE "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`,
  postgresql: `CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
)`,
};

const HISTORY_TABLE_EXISTS: Record<Dialect, string> = {
  sqlite: `SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_prisma_migrations'`,
  postgresql: `SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '_prisma_migrations'`,
};

const SELECT_HISTORY = `SELECT migration_name, checksum,
  CASE WHEN finished_at IS NULL THEN 0 ELSE 1 END,
  CASE WHEN rolled_back_at IS NULL THEN 0 ELSE 1 END,
  logs
  FROM _prisma_migrations`;

// A script with its own BEGIN/COMMIT (Prisma writes those for PostgreSQL enum changes) cannot
// run inside our transaction: its COMMIT would end ours half-way.
const TRANSACTION_CONTROL = /^\s*(?:BEGIN|COMMIT|ROLLBACK|START\s+TRANSACTION)\s*(?:TRANSACTION|WORK)?\s*;/im;

interface HistoryRow {
  name: string;
  checksum: string;
  finished: boolean;
  rolledBack: boolean;
  logs: string | null;
}

/**
 * The folder holding `package.json` and `prisma/`, found by walking up from this module, so it
 * works from `server/accounts/*.ts` (tests) and `dist/server/accounts/*.js` (built) alike.
 * @throws UdnsError `config_invalid` when there is none (a broken install)
 */
export function findPackageRoot(start: string = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'prisma'))) return dir;
    if (path.dirname(dir) === dir) {
      throw new UdnsError('config_invalid', `no folder with package.json and prisma/ above ${start}: reinstall udns`);
    }
  }
}

/** The migration history shipped for a dialect: `prisma/migrations` or `prisma/postgres/migrations`. */
export function migrationsDirectory(dialect: Dialect, packageRoot: string = findPackageRoot()): string {
  return dialect === 'sqlite'
    ? path.join(packageRoot, 'prisma', 'migrations')
    : path.join(packageRoot, 'prisma', 'postgres', 'migrations');
}

/** Hex SHA-256 of a migration file's bytes: Prisma's `_prisma_migrations.checksum`. */
export function migrationChecksum(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

// Prisma also accepts the checksum of the script with the other line endings (git autocrlf).
function checksumMatches(file: MigrationFile, recorded: string): boolean {
  if (file.checksum === recorded) return true;
  const lf = file.script.replace(/\r\n/g, '\n');
  return migrationChecksum(lf) === recorded || migrationChecksum(lf.replace(/\n/g, '\r\n')) === recorded;
}

/**
 * Reads `<dir>/*\/migration.sql` in name order and checks `migration_lock.toml` names `dialect`.
 * @throws UdnsError `config_invalid` for a missing folder, a folder without migration.sql or a
 *   lock file for another provider
 */
export function readMigrations(dir: string, dialect: Dialect): MigrationFile[] {
  if (!fs.existsSync(dir)) throw new UdnsError('config_invalid', `migrations folder ${dir} is missing: reinstall udns`);
  const lockFile = path.join(dir, 'migration_lock.toml');
  if (fs.existsSync(lockFile)) {
    const provider = /^\s*provider\s*=\s*"([^"]+)"/m.exec(fs.readFileSync(lockFile, 'utf8'))?.[1];
    if (provider !== undefined && provider !== dialect) {
      throw new UdnsError('config_invalid', `${lockFile} is for ${provider}, not ${dialect}: point udns at the ${dialect} migrations`);
    }
  }
  const names = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  return names.map((name) => {
    const file = path.join(dir, name, 'migration.sql');
    if (!fs.existsSync(file)) throw new UdnsError('config_invalid', `${file} is missing: restore it or remove the folder ${name}`);
    const bytes = fs.readFileSync(file);
    return { name, script: bytes.toString('utf8'), checksum: migrationChecksum(bytes) };
  });
}

/**
 * Brings the database up to the shipped schema, the way `prisma migrate deploy` would, without
 * the Prisma CLI: creates `_prisma_migrations` in Prisma's format, then applies each pending
 * migration in its own transaction and records it there. Safe when several processes start at
 * once (SQLite: `BEGIN IMMEDIATE` per migration; PostgreSQL: Prisma's advisory lock).
 * @throws UdnsError `config_invalid` when an applied migration's file changed, a failed
 *   migration is recorded, or the database has migrations this version does not know
 * @throws UdnsError `internal` when a migration fails (it is rolled back) or the lock times out
 */
export async function migrateDatabase(target: DatabaseTarget, options: { migrationsDir?: string } = {}): Promise<MigrationReport> {
  const files = readMigrations(options.migrationsDir ?? migrationsDirectory(target.dialect), target.dialect);
  let session: MigrationSession;
  try {
    session = target.dialect === 'sqlite' ? await SqliteSession.open(target) : await PostgresSession.open(target);
  } catch (error) {
    if (error instanceof UdnsError) throw error;
    throw new UdnsError(
      'config_invalid',
      `cannot open the member database ${describeTarget(target)}: ${driverMessage(error)}; check databaseUrl and that the database is reachable`,
      { cause: error },
    );
  }
  try {
    const history = await session.transaction(async () => {
      if ((await session.rows(HISTORY_TABLE_EXISTS[target.dialect])).length === 0) {
        await session.script(HISTORY_TABLE_DDL[target.dialect]);
      }
      return readHistory(session);
    });
    const pending = checkHistory(history, files, describeTarget(target));
    const applied: string[] = [];
    for (const file of pending) {
      if (await applyMigration(session, file)) applied.push(file.name);
    }
    return { applied, known: files.length };
  } finally {
    await session.close();
  }
}

async function readHistory(session: MigrationSession, name?: string): Promise<HistoryRow[]> {
  const rows = name === undefined
    ? await session.rows(SELECT_HISTORY)
    : await session.rows(`${SELECT_HISTORY} WHERE migration_name = ?`, [name]);
  return rows.map((row) => ({
    name: String(row[0]),
    checksum: String(row[1]),
    finished: Number(row[2]) === 1,
    rolledBack: Number(row[3]) === 1,
    logs: row[4] === null || row[4] === undefined ? null : String(row[4]),
  }));
}

/** Refuses a history that disagrees with the files (failed, unknown or edited); returns what is pending. */
function checkHistory(history: HistoryRow[], files: MigrationFile[], where: string): MigrationFile[] {
  const byName = new Map(files.map((file) => [file.name, file]));
  for (const row of history) {
    if (row.rolledBack) continue;
    if (!row.finished) {
      throw new UdnsError(
        'config_invalid',
        `migration ${row.name} failed earlier in ${where}${row.logs ? ` (${row.logs.split('\n')[0]})` : ''}: ` +
          `repair the database by hand, then run \`prisma migrate resolve --rolled-back ${row.name}\` ` +
          `(or --applied if you completed it) and start udns again`,
      );
    }
    const file = byName.get(row.name);
    if (file === undefined) {
      throw new UdnsError(
        'config_invalid',
        `${where} has migration ${row.name}, which this udns version does not ship: run the udns version that applied it (or newer)`,
      );
    }
    if (!checksumMatches(file, row.checksum)) {
      throw new UdnsError(
        'config_invalid',
        `migration ${row.name} was edited after it was applied to ${where} (checksum differs): ` +
          'restore the original migration.sql; schema changes go in a new migration',
      );
    }
  }
  const done = new Set(history.filter((row) => row.finished && !row.rolledBack).map((row) => row.name));
  return files.filter((file) => !done.has(file.name));
}

function timestamp(): string {
  // Prisma's own format for these columns (SQLite stores it verbatim as text).
  return new Date().toISOString().replace('Z', '+00:00');
}

/** Applies one migration unless another process did meanwhile; returns whether this call did. */
async function applyMigration(session: MigrationSession, file: MigrationFile): Promise<boolean> {
  const startedAt = timestamp();
  const record = (finishedAt: string | null, logs: string | null) =>
    session.run(
      `INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
       VALUES (?, ?, ?, ?, ?, NULL, ?, ${finishedAt === null ? 0 : 1})`,
      [randomUUID(), file.checksum, finishedAt, file.name, logs, startedAt],
    );

  if (TRANSACTION_CONTROL.test(file.script)) {
    if (session.dialect === 'sqlite') {
      throw new UdnsError('config_invalid', `migration ${file.name} has its own BEGIN/COMMIT: udns runs each SQLite migration in a transaction, remove them`);
    }
    // Outside a transaction a failure can leave the schema half-changed, so it is recorded as
    // failed (as Prisma does) and the next start refuses until someone resolves it.
    if ((await readHistory(session, file.name)).some((row) => row.finished && !row.rolledBack)) return false;
    try {
      await session.script(file.script);
    } catch (error) {
      // Leave the script's own transaction, if it failed inside one, so the record can be written.
      await session.run('ROLLBACK').catch(() => undefined);
      await record(null, driverMessage(error));
      throw migrationFailed(file, error, false);
    }
    await record(timestamp(), null);
    return true;
  }

  return session.transaction(async () => {
    if ((await readHistory(session, file.name)).some((row) => row.finished && !row.rolledBack)) return false;
    try {
      await session.script(file.script);
      await session.afterScript();
    } catch (error) {
      throw migrationFailed(file, error, true);
    }
    await record(timestamp(), null);
    return true;
  });
}

function migrationFailed(file: MigrationFile, error: unknown, rolledBack: boolean): UdnsError {
  const outcome = rolledBack
    ? 'it was rolled back and nothing was recorded; fix the cause and start udns again'
    : 'it is recorded as failed; repair the database, then run `prisma migrate resolve`';
  return new UdnsError('internal', `migration ${file.name} failed: ${driverMessage(error)}; ${outcome}`, { cause: error });
}
