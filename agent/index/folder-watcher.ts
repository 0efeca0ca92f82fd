import fs from 'node:fs';
import path from 'node:path';

export interface FolderWatcherOptions {
  /** Real path of the shared folder. */
  readonly root: string;
  /** Quiet time after the last event before the changed paths are handed over. */
  readonly settleMs: number;
  /** A folder that never stops changing is still handed over at least this often. */
  readonly maxWaitMs: number;
  /** Full rescans this often, for what watching misses (links leaving the folder, lost events, no watch support). */
  readonly rescanIntervalMs: number;
  /** False: periodic rescans only. */
  readonly watch: boolean;
  /** Called with the share paths to look at again (`/` alone means everything). */
  readonly onChanged: (paths: string[]) => void;
  /** Called once if the platform cannot watch the folder (rescans go on). */
  readonly onWatchFailed: (error: Error) => void;
}

/**
 * Turns file-system events into batches of share paths to look at again: `fs.watch` with
 * `recursive: true` (Linux since Node 20, macOS, Windows; measured on Linux/Node 20: new
 * files in new folders, renames of files and folders and deletes are all reported, by the
 * path relative to the root), debounced, plus a periodic full rescan.
 */
export class FolderWatcher {
  private watcher: fs.FSWatcher | null = null;
  private readonly dirty = new Set<string>();
  private settleTimer: NodeJS.Timeout | null = null;
  private firstDirtyAt = 0;
  private readonly rescanTimer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: FolderWatcherOptions) {
    if (options.watch) {
      try {
        this.watcher = fs.watch(options.root, { recursive: true }, (_event, name) => this.seen(name === null ? null : String(name)));
        this.watcher.on('error', (error) => this.failed(error));
      } catch (error) {
        this.failed(error as Error);
      }
    }
    this.rescanTimer = setInterval(() => this.options.onChanged(['/']), options.rescanIntervalMs);
    this.rescanTimer.unref();
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    this.watcher = null;
    clearInterval(this.rescanTimer);
    if (this.settleTimer !== null) clearTimeout(this.settleTimer);
  }

  private failed(error: Error): void {
    this.watcher?.close();
    this.watcher = null;
    if (!this.closed) this.options.onWatchFailed(error);
  }

  private seen(name: string | null): void {
    if (this.closed) return;
    // No name (the platform lost track): look at everything.
    const parts = name === null ? [] : name.split(path.sep).filter((part) => part !== '' && part !== '.');
    if (parts.includes('..')) return;
    if (this.dirty.size === 0) this.firstDirtyAt = Date.now();
    this.dirty.add(`/${parts.join('/')}`);
    if (this.settleTimer !== null) clearTimeout(this.settleTimer);
    const wait = Math.max(0, Math.min(this.options.settleMs, this.firstDirtyAt + this.options.maxWaitMs - Date.now()));
    this.settleTimer = setTimeout(() => this.handOver(), wait);
    this.settleTimer.unref();
  }

  private handOver(): void {
    this.settleTimer = null;
    const paths = collapse([...this.dirty]);
    this.dirty.clear();
    if (paths.length > 0) this.options.onChanged(paths);
  }
}

/** Drops paths inside another path of the list (`/a` covers `/a/b`); `/` covers all. */
export function collapse(paths: string[]): string[] {
  const unique = [...new Set(paths)];
  if (unique.includes('/')) return ['/'];
  const kept = new Set<string>();
  for (const candidate of unique.sort((a, b) => a.length - b.length)) {
    const parts = candidate.slice(1).split('/');
    let covered = false;
    for (let depth = 1; depth < parts.length && !covered; depth++) covered = kept.has(`/${parts.slice(0, depth).join('/')}`);
    if (!covered) kept.add(candidate);
  }
  return [...kept].sort();
}
