// One dedicated connection per migrator run, holding the lock that keeps concurrent starts
// from applying a migration twice. migrator.ts decides what to run; this file knows how.
import { setTimeout as sleep } from 'node:timers/promises';
import { UdnsError } from '../../protocol/errors.js';
import { createAdapterFactory, describeTarget, SQLITE_BUSY_TIMEOUT_MS, type DatabaseTarget, type Dialect, type DriverAdapter } from './database-target.js';

/** How long start-up waits for another udns process (or `prisma migrate`) that is migrating. */
export const MIGRATION_LOCK_TIMEOUT_MS = 30_000;

/** The advisory lock key Prisma Migrate takes on PostgreSQL; sharing it also serialises us with the CLI. */
export const PRISMA_ADVISORY_LOCK_KEY = 72707369;

/** The database's own message from a driver-adapter error (the adapter's message is only a kind). */
export function driverMessage(error: unknown): string {
  const cause = (error as { cause?: { originalMessage?: unknown; kind?: unknown } } | null)?.cause;
  if (typeof cause?.originalMessage === 'string') return cause.originalMessage;
  // Connection failures carry only a kind such as DatabaseNotReachable.
  if (typeof cause?.kind === 'string') return cause.kind.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return error instanceof Error ? error.message : String(error);
}

/** The database's error code (`SQLITE_BUSY`, `55P03`, …) behind a driver-adapter error. */
export function driverCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { originalCode?: unknown } } | null;
  const code = e?.cause?.originalCode ?? e?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The dialect-specific half of the migrator: one dedicated connection holding the lock. */
export interface MigrationSession {
  readonly dialect: Dialect;
  /** Runs `work` in a transaction that holds the migration lock; rolls back if it throws. */
  transaction<T>(work: () => Promise<T>): Promise<T>;
  /** A query returning rows; `?` marks parameters. */
  rows(sql: string, args?: (string | null)[]): Promise<unknown[][]>;
  /** A statement without rows; `?` marks parameters. */
  run(sql: string, args?: (string | null)[]): Promise<void>;
  /** A whole script of several statements, no parameters. */
  script(sql: string): Promise<void>;
  /** Integrity checks to pass before a migration commits. */
  afterScript(): Promise<void>;
  close(): Promise<void>;
}

function query(adapter: Pick<DriverAdapter, 'queryRaw'>, sql: string, args: (string | null)[]) {
  return adapter.queryRaw({ sql, args, argTypes: args.map(() => ({ scalarType: 'string' as const, arity: 'scalar' as const })) });
}

/** SQLite: each transaction is `BEGIN IMMEDIATE`, so the write lock is the migration lock. */
export class SqliteSession implements MigrationSession {
  readonly dialect = 'sqlite';

  private constructor(private readonly adapter: DriverAdapter, private readonly where: string) {}

  static async open(target: DatabaseTarget): Promise<SqliteSession> {
    // Foreign keys off, as SQLite's ALTER TABLE procedure requires: Prisma's table-redefining
    // migrations drop and re-create tables, and with enforcement on, DROP TABLE would cascade
    // deletes into the child tables. `afterScript` runs foreign_key_check instead.
    const adapter = await createAdapterFactory(target, { foreignKeys: false }).connect();
    const session = new SqliteSession(adapter, describeTarget(target));
    try {
      // Waits happen in our loop (busy_timeout 0) rather than inside SQLite's busy handler,
      // which would block the event loop for the whole wait.
      await adapter.executeScript('PRAGMA busy_timeout = 0');
      await session.untilNotBusy(() => query(adapter, 'PRAGMA journal_mode = WAL', []));
    } catch (error) {
      await adapter.dispose();
      throw error;
    }
    return session;
  }

  private async untilNotBusy<T>(attempt: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + MIGRATION_LOCK_TIMEOUT_MS;
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      try {
        return await attempt();
      } catch (error) {
        if (!driverCode(error)?.startsWith('SQLITE_BUSY')) throw error;
        if (Date.now() >= deadline) {
          throw new UdnsError(
            'internal',
            `${this.where} stayed locked for ${MIGRATION_LOCK_TIMEOUT_MS / 1000} s while udns tried to migrate it: stop the process holding it and start again`,
            { cause: error },
          );
        }
        await sleep(delay);
      }
    }
  }

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    await this.untilNotBusy(() => this.adapter.executeScript('BEGIN IMMEDIATE'));
    try {
      // Holding the write lock now; COMMIT may still wait for readers in rollback-journal mode.
      await this.adapter.executeScript(`PRAGMA busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
      const result = await work();
      await this.adapter.executeScript('COMMIT');
      return result;
    } catch (error) {
      // SQLite may already have rolled back on its own (e.g. after SQLITE_FULL).
      await this.adapter.executeScript('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      await this.adapter.executeScript('PRAGMA busy_timeout = 0');
    }
  }

  async rows(sql: string, args: (string | null)[] = []): Promise<unknown[][]> {
    return (await query(this.adapter, sql, args)).rows;
  }

  async run(sql: string, args: (string | null)[] = []): Promise<void> {
    await query(this.adapter, sql, args);
  }

  script(sql: string): Promise<void> {
    return this.adapter.executeScript(sql);
  }

  async afterScript(): Promise<void> {
    const violations = await this.rows('PRAGMA foreign_key_check');
    if (violations.length > 0) {
      throw new Error(`the migration leaves ${violations.length} foreign-key violation(s), first in table ${String(violations[0]![0])}`);
    }
  }

  close(): Promise<void> {
    return this.adapter.dispose();
  }
}

type PgConnection = Awaited<ReturnType<DriverAdapter['startTransaction']>>;

/** PostgreSQL: Prisma's session-level advisory lock, held from open to close. */
export class PostgresSession implements MigrationSession {
  readonly dialect = 'postgresql';

  private constructor(private readonly pool: DriverAdapter, private readonly conn: PgConnection) {}

  static async open(target: DatabaseTarget): Promise<PostgresSession> {
    const pool = await createAdapterFactory(target, { foreignKeys: true }).connect();
    let conn: PgConnection | undefined;
    try {
      // The adapter hands out a dedicated pooled connection only as a transaction; ending that
      // transaction at once leaves a plain session for the session-level advisory lock.
      conn = await pool.startTransaction();
      await conn.executeRaw({ sql: 'COMMIT', args: [], argTypes: [] });
      const session = new PostgresSession(pool, conn);
      await session.run(`SET lock_timeout = ${MIGRATION_LOCK_TIMEOUT_MS}`);
      try {
        await session.run(`SELECT pg_advisory_lock(${PRISMA_ADVISORY_LOCK_KEY})`);
      } catch (error) {
        if (driverCode(error) !== '55P03') throw error;
        throw new UdnsError(
          'internal',
          `another process held the migration lock on ${describeTarget(target)} for ${MIGRATION_LOCK_TIMEOUT_MS / 1000} s: ` +
            'wait for it (another udns or prisma migrate) to finish, then start again',
          { cause: error },
        );
      }
      await session.run('RESET lock_timeout');
      return session;
    } catch (error) {
      await conn?.rollback();
      await pool.dispose();
      throw error;
    }
  }

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    await this.run('BEGIN');
    try {
      const result = await work();
      await this.run('COMMIT');
      return result;
    } catch (error) {
      // A broken connection cannot roll back, and its error would hide the real one.
      await this.run('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  async rows(sql: string, args: (string | null)[] = []): Promise<unknown[][]> {
    return (await query(this.conn, numbered(sql), args)).rows;
  }

  async run(sql: string, args: (string | null)[] = []): Promise<void> {
    // executeRaw skips result-type mapping, which would reject `void` (pg_advisory_lock).
    await this.conn.executeRaw({ sql: numbered(sql), args, argTypes: args.map(() => ({ scalarType: 'string', arity: 'scalar' })) });
  }

  async script(sql: string): Promise<void> {
    // Without parameters pg uses the simple query protocol, which accepts many statements.
    await this.conn.executeRaw({ sql, args: [], argTypes: [] });
  }

  async afterScript(): Promise<void> {}

  async close(): Promise<void> {
    try {
      await this.run(`SELECT pg_advisory_unlock(${PRISMA_ADVISORY_LOCK_KEY})`);
    } finally {
      await this.conn.commit(); // returns the connection to the pool; sends no SQL
      await this.pool.dispose();
    }
  }
}

function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
