import path from 'node:path';
import type { Resource } from '@nephele/adapter-file-system';

/** What the file-system adapter keeps per resource: dead properties and locks. */
export type MetaStorage = Awaited<ReturnType<Resource['readMetadataFile']>>;

/** Most resources with dead properties or locks kept at once; the oldest entry goes first. */
export const MAX_DAV_METADATA_ENTRIES = 10_000;

/**
 * Dead properties (PROPPATCH) and locks of one share, kept in memory. The file-system adapter
 * would write them to `.nephelemeta` files beside the user's files: that would change a
 * read-only share on LOCK, litter the folder, and its clean-up deletes any file whose name
 * ends in `.nephelemeta`. Keys are absolute paths inside the share; nothing survives a restart
 * (clients re-lock, and the properties clients set are hints such as Windows timestamps).
 */
export class DavMetadataStore {
  private readonly entries = new Map<string, MetaStorage>();

  read(key: string): MetaStorage {
    const meta = this.entries.get(key);
    // A copy: nephele edits what it reads before deciding whether to save it.
    return meta === undefined ? {} : structuredClone(meta);
  }

  write(key: string, meta: MetaStorage): void {
    this.entries.delete(key);
    if (isEmpty(meta.props) && isEmpty(meta.locks)) return;
    this.entries.set(key, structuredClone(meta));
    if (this.entries.size > MAX_DAV_METADATA_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
  }

  /** Forgets `key` and, for a folder, everything under it (after a delete). */
  forget(key: string, folder: boolean): void {
    this.entries.delete(key);
    if (!folder) return;
    const prefix = key.endsWith(path.sep) ? key : key + path.sep;
    for (const other of [...this.entries.keys()]) {
      if (other.startsWith(prefix)) this.entries.delete(other);
    }
  }

  /** Gives `to` the dead properties of `from` (COPY, MOVE); locks never travel (RFC 4918 §7.7). */
  copyProperties(from: string, to: string): void {
    const { props } = this.read(from);
    this.write(to, props === undefined ? {} : { props });
  }
}

function isEmpty(record: object | undefined): boolean {
  return record === undefined || Object.keys(record).length === 0;
}
