import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import mime from 'mime-types';
import { IndexEntry, MAX_INDEX_PATH_BYTES, isIndexPath } from '../../protocol/index.js';
import { visibleEntries } from '../share/directory-listing.js';
import { parseSharePath, resolveExisting, type SharePolicy } from '../share/share-paths.js';

/** A file a visitor of the share could fetch, with what the index and the hash cache need. */
export interface VisibleFile {
  /** Share path, `/`-separated (`/docs/a.pdf`). */
  readonly path: string;
  /** What is read when hashing (symlinks resolved). */
  readonly real: string;
  readonly size: number;
  /** Whole milliseconds, as the index carries it. */
  readonly mtime: number;
  /** Full-precision mtime, device and inode: the hash cache's key. */
  readonly mtimeMs: number;
  readonly dev: number;
  readonly ino: number;
  readonly type: string;
}

/** Media type by extension, `application/octet-stream` when unknown or not what the index accepts (IndexEntry.type). */
export function mediaTypeOf(name: string): string {
  const type = mime.lookup(name);
  if (type === false) return 'application/octet-stream';
  const lower = type.toLowerCase();
  return IndexEntry.shape.type.safeParse(lower).success ? lower : 'application/octet-stream';
}

/**
 * True when a visitor can address this name by URL: the share's own request-path rules
 * (parseSharePath) accept it as one segment. Names a visitor cannot ask for (control
 * characters, backslashes, a leftover `%41`, a dotfile without --show-hidden) are not indexed.
 */
export function isAddressableName(name: string, showHidden: boolean): boolean {
  const parsed = parseSharePath(`/${encodeURIComponent(name)}`, showHidden);
  return Array.isArray(parsed) && parsed.length === 1 && parsed[0] === name;
}

function fileOf(sharePath: string, real: string, stats: Stats): VisibleFile {
  return {
    path: sharePath, real, size: stats.size, mtime: Math.max(0, Math.floor(stats.mtimeMs)), mtimeMs: stats.mtimeMs,
    dev: stats.dev, ino: stats.ino, type: mediaTypeOf(sharePath),
  };
}

async function readable(real: string): Promise<boolean> {
  try {
    await fs.access(real, fs.constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** Stops a walk that would exceed `maxFiles` (the edge would refuse such a share anyway). */
export class TooManyFiles extends Error {}

/**
 * Every file under `under` (a share path, `/` for all) that a visitor could fetch, by the
 * share's own rules: the members visibleEntries lists (dotfiles, symlinks inside the share or
 * followed with --follow-symlinks), readable, with names a URL can reach and paths within the
 * index's 1 KiB. A folder reached twice on one branch (a link to an ancestor) is not walked
 * again. Missing or unreachable `under` yields nothing. `folders`, when given, receives every
 * visible folder walked (share path → real path), `under` included (what the watcher watches).
 */
export async function scanVisibleFiles(
  policy: SharePolicy, under = '/', maxFiles = Number.MAX_SAFE_INTEGER, folders?: Map<string, string>,
): Promise<Map<string, VisibleFile>> {
  const found = new Map<string, VisibleFile>();
  const segments = under === '/' ? [] : under.slice(1).split('/');
  if (!segments.every((segment) => isAddressableName(segment, policy.showHidden))) return found;
  const start = await resolveExisting(policy, segments);
  if (start === null) return found;
  if (start.stats.isFile()) {
    if (isIndexPath(under) && await readable(start.real)) found.set(under, fileOf(under, start.real, start.stats));
    return found;
  }
  if (!start.stats.isDirectory()) return found;
  const walk = async (real: string, sharePath: string, ancestors: Set<string>): Promise<void> => {
    folders?.set(sharePath, real);
    for (const entry of await visibleEntries(policy, real)) {
      if (!isAddressableName(entry.name, policy.showHidden)) continue;
      const child = `${sharePath === '/' ? '' : sharePath}/${entry.name}`;
      if (Buffer.byteLength(child) > MAX_INDEX_PATH_BYTES) continue;
      if (entry.stats.isDirectory()) {
        if (ancestors.has(entry.real)) continue;
        const deeper = new Set(ancestors).add(entry.real);
        await walk(entry.real, child, deeper);
      } else if (isIndexPath(child) && await readable(entry.real)) {
        if (found.size >= maxFiles) throw new TooManyFiles(`more than ${maxFiles} files`);
        found.set(child, fileOf(child, entry.real, entry.stats));
      }
    }
  };
  const startReal = await fs.realpath(start.real).catch(() => start.real);
  await walk(start.real, under, new Set([startReal]));
  return found;
}
