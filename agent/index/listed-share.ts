import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import { UdnsError, type IndexEntry } from '../../protocol/index.js';
import type { AgentLogger } from '../agent-logger.js';
import { priceOfFile, type PriceList } from '../exchange/price-list.js';
import type { SharePolicy } from '../share/share-paths.js';
import { BackgroundHasher, commitFilePlain, hashFileSha256, type FileCommitter, type FileHasher } from './background-hasher.js';
import { FolderWatcher, collapse } from './folder-watcher.js';
import type { FileCommitment, FileVersion, HashCache } from './hash-cache.js';
import { ShareIndex } from './share-index.js';
import { TooManyFiles, scanVisibleFiles, type VisibleFile } from './visible-files.js';

/** Full rescans of a listed share (what watching missed): every 10 minutes. */
export const DEFAULT_RESCAN_INTERVAL_MS = 10 * 60_000;
/** Quiet time after file-system events before they become a delta. */
export const DEFAULT_SETTLE_MS = 1000;
/**
 * Files a listed share may hold before the agent stops walking it: four times the edge's
 * default per-share limit, so an edge with a raised limit is not starved, while a mistaken
 * `udns share / --list` does not fill the PC's memory.
 */
export const DEFAULT_MAX_LISTED_FILES = 1_000_000;

export interface ListedShareOptions {
  readonly policy: SharePolicy;
  /** The share asks for a password (results show a lock). */
  readonly locked: boolean;
  readonly expiresAtMs: number | null;
  readonly cache: HashCache;
  readonly logger: AgentLogger;
  /** Reads a file for its SHA-256 (tests inject one that counts reads). */
  readonly hashFile?: FileHasher;
  /** Reads a priced file for its SHA-256 and Merkle root (tests inject one that counts reads). */
  readonly commitFile?: FileCommitter;
  /** The share's prices (`--price`): a priced file is listed only once committed to, with its price and root. */
  readonly prices?: PriceList | null;
  readonly rescanIntervalMs?: number;
  readonly settleMs?: number;
  /** False: periodic rescans only (no fs.watch). */
  readonly watch?: boolean;
  readonly maxFiles?: number;
}

/**
 * One share listed in the members' index, on the agent: what a visitor could fetch (path,
 * size, mtime, type), kept current by watching and rescanning, with each file's SHA-256 added
 * in the background (from the persistent cache when this version of the file was hashed
 * before). The index starts without digests so that files are searchable at once; each
 * digest arrives later as an upsert. The sync client (per tunnel) reads `index`.
 *
 * Events: `'refused'` (UdnsError), once, when the edge (or the share's size) ended the listing;
 * `'accepted'` (files, files still being hashed) each time an edge takes the listing.
 */
export class ListedShare extends EventEmitter {
  readonly index = new ShareIndex();
  readonly locked: boolean;
  readonly expiresAtMs: number | null;
  private readonly files = new Map<string, VisibleFile>();
  /** Visible folders (share path → real path), for the watcher. */
  private readonly folders = new Map<string, string>();
  private readonly hasher: BackgroundHasher;
  private readonly hashFile: FileHasher;
  private readonly commitFile: FileCommitter;
  private prices: PriceList | null;
  private watcher: FolderWatcher | null = null;
  private refreshing: Promise<void> = Promise.resolve();
  private readonly firstScan: Promise<void>;
  private expiryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private refusal: UdnsError | null = null;

  constructor(private readonly options: ListedShareOptions) {
    super();
    this.locked = options.locked;
    this.expiresAtMs = options.expiresAtMs;
    this.hashFile = options.hashFile ?? hashFileSha256;
    this.commitFile = options.commitFile ?? commitFilePlain;
    this.prices = options.prices ?? null;
    this.hasher = new BackgroundHasher((path) => this.hashOne(path));
    this.firstScan = this.refresh(['/']);
    this.firstScan.then(() => {
      if (this.closed) return;
      this.watcher = new FolderWatcher({
        root: options.policy.root,
        settleMs: options.settleMs ?? DEFAULT_SETTLE_MS,
        maxWaitMs: 10 * (options.settleMs ?? DEFAULT_SETTLE_MS),
        rescanIntervalMs: options.rescanIntervalMs ?? DEFAULT_RESCAN_INTERVAL_MS,
        watch: options.watch ?? true,
        onChanged: (paths) => void this.refresh(paths),
        onWatchFailed: (error) => options.logger.warn({ err: error }, 'cannot watch (all of) the listed share; changes there reach the index by periodic rescans'),
      });
      this.watcher.watchFolders(this.folders);
    }, () => {});
    // An expired share is dropped by the edge; nothing more to keep current here.
    if (options.expiresAtMs !== null) {
      this.expiryTimer = setTimeout(() => this.close(), Math.min(2 ** 31 - 1, Math.max(0, options.expiresAtMs - Date.now())));
      this.expiryTimer.unref();
    }
  }

  /** Resolves once the first scan is in the index (digests may still be coming). */
  ready(): Promise<void> {
    return this.firstScan;
  }

  /** Resolves once every scan asked for so far is applied and every queued file is hashed. */
  async settled(): Promise<void> {
    let seen: Promise<void>;
    do {
      seen = this.refreshing;
      await seen;
      await this.hasher.idle();
    } while (seen !== this.refreshing);
  }

  /** Why the edge refused the listing, once it did; the share is then no longer kept current. */
  get refused(): UdnsError | null {
    return this.refusal;
  }

  /** The edge refused the share (too many entries, search off): logged once, and listing ends. */
  refuse(error: UdnsError): void {
    if (this.refusal !== null) return;
    this.refusal = error;
    this.options.logger.warn({ code: error.code, reason: error.message, share: this.options.policy.root }, 'the edge refused to list this share in the members\' index; it is still shared, but not searchable');
    this.close();
    this.emit('refused', error);
  }

  accepted(): void {
    const hashing = this.hasher.pending;
    this.options.logger.info({ files: this.index.size, hashing }, 'listed in the members\' index');
    this.emit('accepted', this.index.size, hashing);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher?.close();
    this.hasher.stop();
    // Ctrl-C must not cost the last second of hashing after the restart.
    this.options.cache.flush();
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
  }

  /** Looks at these share paths again (`/`: everything), one refresh at a time, in order. */
  refresh(paths: string[]): Promise<void> {
    this.refreshing = this.refreshing.then(async () => {
      for (const under of coarsen(paths)) {
        if (this.closed) return;
        let scanned: Map<string, VisibleFile>;
        const folders = new Map<string, string>();
        try {
          scanned = await scanVisibleFiles(this.options.policy, under, this.options.maxFiles ?? DEFAULT_MAX_LISTED_FILES, folders);
        } catch (error) {
          if (error instanceof TooManyFiles) {
            this.refuse(new UdnsError('index_limit', `the share holds ${error.message}: share a smaller folder to list it`));
            return;
          }
          throw error;
        }
        this.apply(under, scanned);
        this.applyFolders(under, folders);
      }
      this.watcher?.watchFolders(this.folders);
    }).catch((error: unknown) => this.options.logger.warn({ err: error }, 'scanning the listed share failed'));
    return this.refreshing;
  }

  private apply(under: string, scanned: Map<string, VisibleFile>): void {
    if (this.closed) return;
    const prefix = under === '/' ? '/' : `${under}/`;
    for (const path of [...this.files.keys()]) {
      if ((path === under || path.startsWith(prefix)) && !scanned.has(path)) {
        this.files.delete(path);
        this.index.remove(path);
      }
    }
    for (const [path, file] of scanned) {
      const before = this.files.get(path);
      if (before !== undefined && sameVersion(before, file) && before.type === file.type) continue;
      this.files.set(path, file);
      this.place(path, file);
    }
  }

  /**
   * Puts one file's entry in the index as far as it is known: a free file at once (its digest
   * later), a priced file only once its SHA-256 and Merkle root are (a paid file is never
   * listed without the commitment a buyer checks). Queues the hashing that is missing.
   */
  private place(path: string, file: VisibleFile): void {
    const price = this.priceOf(file);
    const known = this.options.cache.commitment(file);
    if (price === null) {
      this.index.upsert(entryOf(file, known?.sha256 ?? null));
      if (known === null) this.hasher.enqueue(path);
      return;
    }
    if (known?.merkleRoot) {
      this.index.upsert(entryOf(file, known.sha256, { price, merkleRoot: known.merkleRoot }));
      return;
    }
    this.index.remove(path);
    this.hasher.enqueue(path);
  }

  /** The price of a file under the current prices (its share path, or its real path through a link); null when free. */
  private priceOf(file: VisibleFile): number | null {
    return priceOfFile(this.prices, file.path, file.real, this.options.policy.root);
  }

  /**
   * New prices (`udns up` reloading its file): every entry whose price changed is synced again,
   * newly priced files leave the index until committed to, files no longer priced come back free.
   */
  setPrices(prices: PriceList | null): void {
    this.prices = prices;
    if (this.closed) return;
    for (const [path, file] of this.files) this.place(path, file);
  }

  /**
   * The SHA-256 and Merkle root of this version of a file (the sale desk's check before it
   * seals): from the cache, else read now (and cached). The caller compares the result with
   * the listing: a file that changed meanwhile gives another root.
   */
  async commitment(real: string, version: FileVersion): Promise<FileCommitment & { merkleRoot: string }> {
    const known = this.options.cache.commitment(version);
    if (known?.merkleRoot) return { sha256: known.sha256, merkleRoot: known.merkleRoot };
    const committed = await this.commitFile(real);
    const after = await fs.stat(real);
    if (sameVersion(version, after)) this.options.cache.put(version, committed.sha256, committed.merkleRoot);
    return committed;
  }

  private applyFolders(under: string, scanned: Map<string, string>): void {
    const prefix = under === '/' ? '/' : `${under}/`;
    for (const folder of [...this.folders.keys()]) if ((folder === under || folder.startsWith(prefix)) && !scanned.has(folder)) this.folders.delete(folder);
    for (const [folder, real] of scanned) this.folders.set(folder, real);
  }

  private async hashOne(path: string): Promise<void> {
    const file = this.files.get(path);
    if (file === undefined || this.closed) return;
    const price = this.priceOf(file);
    let known = this.options.cache.commitment(file);
    if (known === null || (price !== null && known.merkleRoot === null)) {
      try {
        known = price === null ? { sha256: await this.hashFile(file.real), merkleRoot: null } : await this.commitFile(file.real);
        // Changed while being read: the digest may mix two versions. The watcher or the next
        // rescan brings the new version, hashed then.
        const after = await fs.stat(file.real);
        if (!sameVersion(file, after)) return;
      } catch (error) {
        this.options.logger.debug({ err: error, path }, 'cannot hash a listed file');
        return;
      }
      this.options.cache.put(file, known.sha256, known.merkleRoot);
    }
    if (this.files.get(path) !== file || this.closed) return;
    // The prices may have changed while the file was read.
    const priceNow = this.priceOf(file);
    if (priceNow === null) this.index.upsert(entryOf(file, known.sha256));
    else if (known.merkleRoot !== null) this.index.upsert(entryOf(file, known.sha256, { price: priceNow, merkleRoot: known.merkleRoot }));
    else this.hasher.enqueue(path);
  }
}

/** Paths looked at in one refresh at most; more are looked at through their folders (each costs a pass over the index). */
const MAX_REFRESH_PATHS = 64;

/** Hundreds of changed paths (a copy into a folder) become their folders, or the whole share. */
function coarsen(paths: string[]): string[] {
  let coarse = collapse(paths);
  while (coarse.length > MAX_REFRESH_PATHS) {
    const parents = coarse.map((path) => path.slice(0, path.lastIndexOf('/')) || '/');
    const next = collapse(parents);
    if (next.length >= coarse.length) return ['/'];
    coarse = next;
  }
  return coarse;
}

function sameVersion(a: { dev: number; ino: number; size: number; mtimeMs: number }, b: { dev: number; ino: number; size: number; mtimeMs: number }): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

function entryOf(file: VisibleFile, sha256: string | null, paid?: { price: number; merkleRoot: string }): IndexEntry {
  return { path: file.path, size: file.size, mtime: file.mtime, type: file.type, ...(sha256 === null ? {} : { sha256 }), ...(paid ?? {}) };
}
