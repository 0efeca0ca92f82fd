import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { UdnsError } from '../../protocol/errors.js';

/** Where the member database lives, parsed from the config once. */
export type DatabaseTarget =
  | { readonly dialect: 'sqlite'; readonly file: string }
  | { readonly dialect: 'postgresql'; readonly url: string };

/** The SQL dialects udns keeps a migration history for. */
export type Dialect = DatabaseTarget['dialect'];

/** How long a SQLite statement waits for another process's write lock before failing. */
export const SQLITE_BUSY_TIMEOUT_MS = 5_000;

/** The database file used when no `databaseUrl` is configured, inside the data directory. */
export const DEFAULT_SQLITE_FILE_NAME = 'udns.db';

/** A connection as the Prisma driver adapters expose it (both adapters share the interface). */
export type DriverAdapter = Awaited<ReturnType<PrismaBetterSQLite3['connect']>>;

/**
 * Picks the database from the config: no `databaseUrl` means `<dataDir>/udns.db`; a `file:` URL
 * is a SQLite file (relative paths from the working directory); `postgres://` and
 * `postgresql://` are PostgreSQL.
 * @throws UdnsError `config_invalid` for anything else
 */
export function resolveDatabaseTarget(options: { dataDir: string; databaseUrl?: string | undefined }): DatabaseTarget {
  const url = options.databaseUrl?.trim();
  if (url === undefined || url === '') {
    return { dialect: 'sqlite', file: path.resolve(options.dataDir, DEFAULT_SQLITE_FILE_NAME) };
  }
  if (/^postgres(?:ql)?:\/\//i.test(url)) return { dialect: 'postgresql', url };
  if (/^file:/i.test(url)) {
    const file = /^file:\/\//i.test(url) ? fileURLToPath(url) : url.slice('file:'.length);
    if (file === '' || file.includes('?') || file === ':memory:') {
      throw new UdnsError(
        'config_invalid',
        `databaseUrl "${url}" is not a usable SQLite file: give a path such as file:/var/lib/udns/udns.db (no query options, not :memory:)`,
      );
    }
    return { dialect: 'sqlite', file: path.resolve(file) };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
  // Only the scheme is echoed: the rest of a URL may hold a password.
  throw new UdnsError(
    'config_invalid',
    `unsupported databaseUrl${scheme ? ` scheme "${scheme}:"` : ''}: leave it unset for <dataDir>/${DEFAULT_SQLITE_FILE_NAME}, ` +
      'or use file:/path/to/udns.db (SQLite) or postgresql://user:password@host:5432/udns (PostgreSQL)',
  );
}

/** A printable name for the database, without credentials, for messages and logs. */
export function describeTarget(target: DatabaseTarget): string {
  if (target.dialect === 'sqlite') return target.file;
  try {
    const u = new URL(target.url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'postgresql database';
  }
}

/**
 * The SQLite adapter with the per-connection pragmas applied on connect. (`journal_mode=WAL`
 * is not among them: it is stored in the file, and the migrator sets it before anything else.)
 */
class SqliteAdapterFactory extends PrismaBetterSQLite3 {
  readonly #pragmas: string;

  constructor(file: string, foreignKeys: boolean) {
    super({ url: `file:${file}`, timeout: SQLITE_BUSY_TIMEOUT_MS });
    this.#pragmas = `PRAGMA busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ${foreignKeys ? 'ON' : 'OFF'};`;
  }

  override async connect(): Promise<DriverAdapter> {
    const adapter = await super.connect();
    try {
      await adapter.executeScript(this.#pragmas);
    } catch (error) {
      await adapter.dispose();
      throw error;
    }
    return adapter;
  }
}

/**
 * The driver-adapter factory for a target. `foreignKeys` only matters for SQLite, where
 * enforcement is per connection: the store wants it on, the migrator off (see migrator.ts).
 */
export function createAdapterFactory(target: DatabaseTarget, options: { foreignKeys: boolean }): SqliteAdapterFactory | PrismaPg {
  return target.dialect === 'sqlite'
    ? new SqliteAdapterFactory(target.file, options.foreignKeys)
    : new PrismaPg({ connectionString: target.url });
}
