import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

/** The little of better-sqlite3 used here (the package ships no types). */
interface Statement { run(...params: unknown[]): unknown; get(...params: unknown[]): unknown }
interface Database { pragma(text: string): unknown; exec(sql: string): unknown; prepare(sql: string): Statement; close(): void }

/** What identifies one version of a file for its digest: a changed byte changes mtime or size. */
export interface FileVersion {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
}

/** Rows not seen by any scan for this long are dropped when the cache opens. */
const FORGET_AFTER_MS = 30 * 86_400_000;

/**
 * SHA-256 digests of shared files that survive a restart, keyed by device, inode, size and
 * mtime (full precision), so restarting `udns share --list` on a terabyte rehashes nothing.
 *
 * A small SQLite file (better-sqlite3, already the edge's driver): every digest is one
 * committed row, so a crash or Ctrl-C mid-scan loses at most the file being hashed and never
 * leaves a half-written cache; WAL lets two agents on the same PC (two `udns share`) share
 * it; and one digest costs one small write instead of rewriting a journal of a million lines.
 * A cache that cannot be opened (read-only home) is not fatal: digests are then kept in memory.
 */
export class HashCache {
  private readonly memory = new Map<string, string>();
  private readonly db: Database | null;
  private readonly getRow: Statement | null = null;
  private readonly putRow: Statement | null = null;
  private readonly touchRow: Statement | null = null;
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
        db.exec('CREATE TABLE IF NOT EXISTS fileHashes (version TEXT PRIMARY KEY, sha256 TEXT NOT NULL, seenAt INTEGER NOT NULL) WITHOUT ROWID');
        db.prepare('DELETE FROM fileHashes WHERE seenAt < ?').run(this.now() - FORGET_AFTER_MS);
        this.getRow = db.prepare('SELECT sha256 FROM fileHashes WHERE version = ?');
        this.putRow = db.prepare('INSERT INTO fileHashes (version, sha256, seenAt) VALUES (?, ?, ?) ON CONFLICT (version) DO UPDATE SET sha256 = excluded.sha256, seenAt = excluded.seenAt');
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
    const key = keyOf(version);
    const remembered = this.memory.get(key);
    if (remembered !== undefined) return remembered;
    if (this.getRow === null) return null;
    try {
      const row = this.getRow.get(key) as { sha256: string } | undefined;
      if (row === undefined) return null;
      // Marked seen at most once per process: the first lookup after a restart.
      this.touchRow!.run(this.now(), key);
      this.memory.set(key, row.sha256);
      return row.sha256;
    } catch {
      return null;
    }
  }

  put(version: FileVersion, sha256: string): void {
    const key = keyOf(version);
    this.memory.set(key, sha256);
    try {
      this.putRow?.run(key, sha256, this.now());
    } catch {
      // A full disk or a locked file costs a rehash after the next restart, nothing more.
    }
  }

  /** Forgets this process's memory (what a restart does), keeping the file. For tests. */
  forgetMemory(): void {
    this.memory.clear();
  }

  close(): void {
    this.db?.close();
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
