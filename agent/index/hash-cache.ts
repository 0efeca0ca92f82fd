import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

/** The little of better-sqlite3 used here (the package ships no types). */
interface Statement { run(...params: unknown[]): unknown; get(...params: unknown[]): unknown }
interface Database { pragma(text: string): unknown; exec(sql: string): unknown; prepare(sql: string): Statement; transaction(run: () => void): () => void; close(): void }

/** What identifies one version of a file for its digest: a changed byte changes mtime or size. */
export interface FileVersion {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
}

/** What the cache holds for one version of a file. */
export interface FileCommitment {
  /** Lowercase hex SHA-256 of the content. */
  readonly sha256: string;
  /** Plaintext Merkle root over CHUNK_BYTES chunks (protocol/sealed-file.ts commitPlain); null when only the digest was computed. */
  readonly merkleRoot: string | null;
}

/** Writes wait at most this long, or for this many, and go in one transaction. */
const FLUSH_MS = 1000;
const FLUSH_ROWS = 500;

/** Rows not seen by any scan for this long are dropped when the cache opens. */
const FORGET_AFTER_MS = 30 * 86_400_000;

/**
 * SHA-256 digests of shared files that survive a restart, keyed by device, inode, size and
 * mtime (full precision), so restarting `udns share --list` on a terabyte rehashes nothing.
 *
 * A small SQLite file (better-sqlite3, already the edge's driver): digests are committed in
 * transactions of up to 500 rows or 1 s, so a crash or Ctrl-C mid-scan loses at most the last
 * second of hashing and never leaves a half-written cache; WAL lets two agents on the same PC
 * (two `udns share`) share it; and a digest costs a row, not a rewrite of a million-line
 * journal. One commit per digest was measured too: 100,000 small files hashed in 84 s instead
 * of 35 s (the commits and checkpoints), with event-loop stalls up to 1.8 s.
 * A cache that cannot be opened (read-only home) is not fatal: digests are then kept in memory.
 */
export class HashCache {
  private readonly memory = new Map<string, FileCommitment>();
  private readonly db: Database | null;
  private readonly getRow: Statement | null = null;
  private readonly putRow: Statement | null = null;
  private readonly touchRow: Statement | null = null;
  private readonly pendingPuts = new Map<string, FileCommitment>();
  private readonly pendingTouches = new Set<string>();
  private flushTimer: NodeJS.Timeout | null = null;
  /** Why the cache is in memory only, when it is. */
  readonly problem: string | null;

  /** `file`: the SQLite file (its folder is created), or null for a cache in memory only. */
  constructor(file: string | null, private readonly now: () => number = Date.now) {
    let db: Database | null = null;
    let problem: string | null = null;
    if (file !== null) {
      try {
        fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
        const Open = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => Database;
        db = new Open(file);
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        db.pragma('busy_timeout = 2000');
        db.exec('CREATE TABLE IF NOT EXISTS fileHashes (version TEXT PRIMARY KEY, sha256 TEXT NOT NULL, seenAt INTEGER NOT NULL, merkleRoot TEXT) WITHOUT ROWID');
        addMerkleRootColumn(db);
        db.prepare('DELETE FROM fileHashes WHERE seenAt < ?').run(this.now() - FORGET_AFTER_MS);
        this.getRow = db.prepare('SELECT sha256, merkleRoot FROM fileHashes WHERE version = ?');
        // A digest without a root (a free file) never erases a root stored for the same version.
        this.putRow = db.prepare('INSERT INTO fileHashes (version, sha256, seenAt, merkleRoot) VALUES (?, ?, ?, ?) ON CONFLICT (version) DO UPDATE SET sha256 = excluded.sha256, seenAt = excluded.seenAt, merkleRoot = COALESCE(excluded.merkleRoot, fileHashes.merkleRoot)');
        this.touchRow = db.prepare('UPDATE fileHashes SET seenAt = ? WHERE version = ?');
      } catch (error) {
        db?.close();
        db = null;
        problem = `${file}: ${(error as Error).message}`;
      }
    }
    this.db = db;
    this.problem = problem;
  }

  /** The digest of this version of a file, if it was hashed before. */
  get(version: FileVersion): string | null {
    return this.commitment(version)?.sha256 ?? null;
  }

  /**
   * The digest of this version of a file and, when it was committed to for a sale
   * (commitPlain), its plaintext Merkle root; null if it was never hashed.
   */
  commitment(version: FileVersion): FileCommitment | null {
    const key = keyOf(version);
    const remembered = this.memory.get(key);
    if (remembered !== undefined) return remembered;
    if (this.getRow === null) return null;
    try {
      const row = this.getRow.get(key) as { sha256: string; merkleRoot: string | null } | undefined;
      if (row === undefined) return null;
      // Marked seen at most once per process: the first lookup after a restart.
      this.pendingTouches.add(key);
      this.scheduleFlush();
      const found = { sha256: row.sha256, merkleRoot: row.merkleRoot ?? null };
      this.memory.set(key, found);
      return found;
    } catch {
      return null;
    }
  }

  /** Remembers a digest, and the Merkle root when there is one (a root already known is kept). */
  put(version: FileVersion, sha256: string, merkleRoot: string | null = null): void {
    const key = keyOf(version);
    const before = this.memory.get(key);
    const kept = merkleRoot ?? (before?.sha256 === sha256 ? before.merkleRoot : null);
    const value = { sha256, merkleRoot: kept };
    this.memory.set(key, value);
    if (this.db === null) return;
    this.pendingPuts.set(key, value);
    this.scheduleFlush();
  }

  /** Writes what waits, in one transaction. */
  flush(): void {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.db === null || (this.pendingPuts.size === 0 && this.pendingTouches.size === 0)) return;
    const now = this.now();
    try {
      this.db.transaction(() => {
        for (const [key, value] of this.pendingPuts) this.putRow!.run(key, value.sha256, now, value.merkleRoot);
        for (const key of this.pendingTouches) this.touchRow!.run(now, key);
      })();
    } catch {
      // A full disk or a locked file costs a rehash after the next restart, nothing more.
    }
    this.pendingPuts.clear();
    this.pendingTouches.clear();
  }

  private scheduleFlush(): void {
    if (this.pendingPuts.size + this.pendingTouches.size >= FLUSH_ROWS) {
      this.flush();
      return;
    }
    if (this.flushTimer !== null) return;
    this.flushTimer = setTimeout(() => this.flush(), FLUSH_MS);
    this.flushTimer.unref();
  }

  /** Forgets this process's memory (what a restart does), keeping the file. For tests. */
  forgetMemory(): void {
    this.memory.clear();
  }

  close(): void {
    this.flush();
    this.db?.close();
  }
}

/**
 * Caches written before prices existed have no merkleRoot column: added in place (their
 * digests stay valid). Two agents opening the same old file at once may both try; the loser's
 * "duplicate column" is the winner's success.
 */
function addMerkleRootColumn(db: Database): void {
  const columns = db.prepare('SELECT name FROM pragma_table_info(\'fileHashes\') WHERE name = \'merkleRoot\'').get();
  if (columns !== undefined) return;
  try {
    db.exec('ALTER TABLE fileHashes ADD COLUMN merkleRoot TEXT');
  } catch (error) {
    if (!/duplicate column/i.test((error as Error).message)) throw error;
  }
}

function keyOf(version: FileVersion): string {
  return `${version.dev}:${version.ino}:${version.size}:${version.mtimeMs}`;
}

/** `$XDG_CACHE_HOME/udns/file-hashes.sqlite`, else `~/.cache/udns/file-hashes.sqlite`. */
export function defaultHashCacheFile(env: NodeJS.ProcessEnv, home: string): string {
  const base = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(home, '.cache');
  return path.join(base, 'udns', 'file-hashes.sqlite');
}
