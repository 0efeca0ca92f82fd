import type { Dirent, Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ShareEntry } from '../../protocol/index.js';
import { mayReach, type SharePolicy } from './share-paths.js';

export type ListingSort = 'name' | 'size' | 'modified';
export type ListingOrder = 'asc' | 'desc';

/** A visible member of a shared folder, with what it is on disk. */
export interface VisibleEntry {
  readonly name: string;
  readonly real: string;
  readonly stats: Stats;
}

/**
 * The members of a folder a visitor may see: hidden names only with `--show-hidden`, and a
 * symlink only when its target is inside the share (or following them was asked for). A
 * dangling link, a socket or a device is left out. Used by listings, ZIPs and WebDAV alike,
 * so what a visitor can list is exactly what they can fetch.
 */
export async function visibleEntries(policy: SharePolicy, folder: string): Promise<VisibleEntry[]> {
  let members: Dirent[];
  try {
    members = await fs.readdir(folder, { withFileTypes: true });
  } catch {
    return [];
  }
  const entries = await Promise.all(members.map(async (member): Promise<VisibleEntry | null> => {
    if (!policy.showHidden && member.name.startsWith('.')) return null;
    let real = path.join(folder, member.name);
    try {
      if (member.isSymbolicLink()) {
        real = await fs.realpath(real);
        if (!mayReach(policy, real)) return null;
      }
      const stats = await fs.stat(real);
      return stats.isFile() || stats.isDirectory() ? { name: member.name, real, stats } : null;
    } catch {
      return null;
    }
  }));
  return entries.filter((entry): entry is VisibleEntry => entry !== null);
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** The listing of a folder, folders first, then sorted as asked (names compare like a file manager: "2" before "10"). */
export function describeEntries(entries: VisibleEntry[], sort: ListingSort, order: ListingOrder): ShareEntry[] {
  const described: ShareEntry[] = entries.map((entry) => ({
    name: entry.name,
    type: entry.stats.isDirectory() ? 'dir' : 'file',
    size: entry.stats.isDirectory() ? 0 : entry.stats.size,
    modified: entry.stats.mtime.toISOString(),
  }));
  const direction = order === 'asc' ? 1 : -1;
  const byKey = (a: ShareEntry, b: ShareEntry): number => {
    if (sort === 'size') return a.size - b.size;
    if (sort === 'modified') return a.modified < b.modified ? -1 : a.modified > b.modified ? 1 : 0;
    return 0;
  };
  return described.sort((a, b) => {
    if (a.type !== b.type) return a.type === 'dir' ? -1 : 1;
    return direction * (byKey(a, b) || collator.compare(a.name, b.name));
  });
}
