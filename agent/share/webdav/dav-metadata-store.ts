import path from 'node:path';
import type { Resource } from '@nephele/adapter-file-system';
import { ForbiddenError, InsufficientStorageError, LockedError } from 'nephele';

/** What the file-system adapter keeps per resource: dead properties and locks. */
export type MetaStorage = Awaited<ReturnType<Resource['readMetadataFile']>>;
type LockEntry = NonNullable<MetaStorage['locks']>[string];

/** Most resources with dead properties or locks kept at once. */
export const MAX_DAV_METADATA_ENTRIES = 10_000;
/**
 * Most bytes (counted as JSON text) of dead properties and locks one share keeps: what bounds
 * the store's memory. Locks alone stay far below it (MAX_DAV_LOCKS × MAX_DAV_LOCK_OWNER_BYTES
 * is about 4 MiB), so entries with properties only can always be evicted to make room.
 */
export const MAX_DAV_METADATA_BYTES = 16 * 1024 * 1024;
/** Largest `owner` element kept with a lock: clients send a user name or a `mailto:` href. */
export const MAX_DAV_LOCK_OWNER_BYTES = 4 * 1024;
/** Largest dead property, name and value: clients set timestamps, attributes and tags. */
export const MAX_DAV_PROPERTY_BYTES = 4 * 1024;
/** Most dead properties on one resource (Windows sets four, litmus ten). */
export const MAX_DAV_PROPERTIES_PER_RESOURCE = 64;
/** Most locks on one resource: shared locks stack, and one client holds one. */
export const MAX_DAV_LOCKS_PER_RESOURCE = 16;
/** Most locks on one share at once. */
export const MAX_DAV_LOCKS = 1000;
/**
 * Longest lock a visitor gets (nephele's `maxLockTimeout`; `Infinite` and longer requests are
 * cut to it). Windows asks for an hour, davfs2 for 30 minutes, and all of them refresh.
 */
export const MAX_DAV_LOCK_TIMEOUT_MS = 60 * 60 * 1000;
/** What a lock costs besides its owner: token, user name, date, timeout, scope, depth. */
const LOCK_ENTRY_BYTES = 256;

/**
 * The share has no room left for this lock or property (507): its message is written for the
 * visitor, unlike other 5xx errors, whose texts may name paths on the PC.
 */
export class DavStorageFullError extends InsufficientStorageError {}

interface Entry {
  /** Frozen, records included: read() hands out shallow copies, never these. */
  readonly meta: MetaStorage;
  readonly bytes: number;
  readonly locks: number;
}

/**
 * Dead properties (PROPPATCH) and locks of one share, kept in memory. The file-system adapter
 * would write them to `.nephelemeta` files beside the user's files: that would change a
 * read-only share on LOCK, litter the folder, and its clean-up deletes any file whose name
 * ends in `.nephelemeta`. Keys are absolute paths inside the share; nothing survives a restart
 * (clients re-lock, and the properties clients set are hints such as Windows timestamps).
 *
 * Anyone who can reach a share can LOCK, so everything kept is bounded: owners and property
 * values by size, locks and properties per resource and per share, and the whole store by
 * bytes. A change past a limit throws the nephele error its answer should carry (403, 423,
 * 507) and leaves the entry as it was. Expired locks are dropped whenever an entry is written
 * and swept from the whole store when the share's lock limit is reached, so a flood of locks
 * holds the limit for one lock timeout at most. When the store is full, entries holding only
 * properties go first, oldest written first; locks are never evicted.
 */
export class DavMetadataStore {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private lockCount = 0;

  read(key: string): MetaStorage {
    const entry = this.entries.get(key);
    if (entry === undefined) return {};
    // nephele adds and deletes keys of what it reads before saving it; the values it reads
    // (owners, property values) are frozen and only ever replaced, so copying records is enough.
    const meta: MetaStorage = {};
    if (entry.meta.props) meta.props = { ...entry.meta.props };
    if (entry.meta.locks) meta.locks = { ...entry.meta.locks };
    return meta;
  }

  write(key: string, meta: MetaStorage): void {
    const old = this.entries.get(key);
    const next = this.admit(key, old, meta);
    if (next === null) {
      this.remove(key);
      return;
    }
    this.makeRoom(key, next.bytes - (old?.bytes ?? 0));
    this.remove(key);
    // Re-inserted last: the map's order is the eviction order, oldest write first.
    this.entries.set(key, next);
    this.bytes += next.bytes;
    this.lockCount += next.locks;
  }

  /** Forgets `key` and, for a folder, everything under it (after a delete). */
  forget(key: string, folder: boolean): void {
    this.remove(key);
    if (!folder) return;
    const prefix = key.endsWith(path.sep) ? key : key + path.sep;
    for (const other of [...this.entries.keys()]) {
      if (other.startsWith(prefix)) this.remove(other);
    }
  }

  /** Gives `to` the dead properties of `from` (COPY, MOVE); locks never travel (RFC 4918 §7.7). */
  copyProperties(from: string, to: string): void {
    const { props } = this.read(from);
    try {
      this.write(to, props === undefined ? {} : { props });
    } catch (error) {
      // The file is already copied; its properties are hints and may be lost when the share is full.
      if (!(error instanceof DavStorageFullError)) throw error;
      this.remove(to);
    }
  }

  /** Locks kept on the whole share, expired ones not yet swept included. */
  get locks(): number {
    return this.lockCount;
  }

  /** Bytes (as JSON text) the store counts against MAX_DAV_METADATA_BYTES. */
  get size(): number {
    return this.bytes;
  }

  /** Checks `meta` against the limits and returns what to keep for it (null: nothing). */
  private admit(key: string, old: Entry | undefined, meta: MetaStorage): Entry | null {
    const now = Date.now();
    const locks: Record<string, LockEntry> = {};
    let added = 0;
    let bytes = 0;
    for (const [token, lock] of Object.entries(meta.locks ?? {})) {
      if (lock.date + lock.timeout <= now) continue;
      const kept = old?.meta.locks?.[token];
      const ownerBytes = jsonBytes(lock.owner);
      if (kept === undefined) added += 1;
      if (kept?.owner !== lock.owner && ownerBytes > MAX_DAV_LOCK_OWNER_BYTES) {
        throw new ForbiddenError(`The lock owner is too large: this share keeps owners of up to ${MAX_DAV_LOCK_OWNER_BYTES} bytes.`);
      }
      // A refresh saves a new record around the same (frozen) owner: only new objects are copied.
      locks[token] = kept === lock ? kept : deepFreeze(structuredClone(lock));
      bytes += LOCK_ENTRY_BYTES + token.length + ownerBytes;
    }
    const lockTotal = Object.keys(locks).length;
    if (added > 0 && lockTotal > MAX_DAV_LOCKS_PER_RESOURCE) {
      throw new LockedError(`This resource already has ${MAX_DAV_LOCKS_PER_RESOURCE} locks, the most this share keeps on one resource.`);
    }
    if (added > 0 && this.lockCount - (old?.locks ?? 0) + lockTotal > MAX_DAV_LOCKS) {
      this.sweepExpiredLocks(now, key);
      if (this.lockCount - (old?.locks ?? 0) + lockTotal > MAX_DAV_LOCKS) {
        throw new DavStorageFullError(`This share already keeps ${MAX_DAV_LOCKS} locks, its most; try again once some are released or expire.`);
      }
    }

    const props: Record<string, unknown> = {};
    let changed = false;
    for (const [name, value] of Object.entries(meta.props ?? {})) {
      const kept: unknown = old?.meta.props?.[name];
      const propBytes = Buffer.byteLength(name) + jsonBytes(value);
      if (kept === value) {
        props[name] = kept;
      } else {
        if (propBytes > MAX_DAV_PROPERTY_BYTES) {
          throw new ForbiddenError(`The property ${name} is too large: this share keeps properties of up to ${MAX_DAV_PROPERTY_BYTES} bytes.`);
        }
        props[name] = deepFreeze(structuredClone(value));
        changed = true;
      }
      bytes += propBytes;
    }
    const propTotal = Object.keys(props).length;
    if (changed && propTotal > MAX_DAV_PROPERTIES_PER_RESOURCE && propTotal > Object.keys(old?.meta.props ?? {}).length) {
      throw new DavStorageFullError(`This resource already has ${MAX_DAV_PROPERTIES_PER_RESOURCE} properties, the most this share keeps on one resource.`);
    }

    if (lockTotal === 0 && propTotal === 0) return null;
    const kept: MetaStorage = {};
    if (propTotal > 0) kept.props = Object.freeze(props);
    if (lockTotal > 0) kept.locks = Object.freeze(locks);
    return { meta: Object.freeze(kept), bytes, locks: lockTotal };
  }

  /**
   * Evicts entries holding only properties, oldest first, until `growth` more bytes and one
   * more entry fit; throws when they cannot. `key` itself is never evicted.
   */
  private makeRoom(key: string, growth: number): void {
    const fits = () => this.bytes + growth <= MAX_DAV_METADATA_BYTES && (this.entries.has(key) || this.entries.size < MAX_DAV_METADATA_ENTRIES);
    if (fits()) return;
    this.sweepExpiredLocks(Date.now(), key);
    for (const [other, entry] of this.entries) {
      if (fits()) return;
      if (other !== key && entry.locks === 0) this.remove(other);
    }
    if (!fits()) throw new DavStorageFullError('This share keeps no more locks or properties; try again once some locks are released or expire.');
  }

  /** Drops expired locks everywhere but in `except` (being written, and pruned there already). */
  private sweepExpiredLocks(now: number, except: string): void {
    if (this.lockCount === 0) return;
    for (const [key, entry] of [...this.entries]) {
      if (key === except || entry.locks === 0) continue;
      const locks = entry.meta.locks ?? {};
      if (Object.values(locks).every((lock) => lock.date + lock.timeout > now)) continue;
      // Removing locks only shrinks an entry: admit() cannot refuse it.
      this.write(key, { props: entry.meta.props, locks });
    }
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
    this.lockCount -= entry.locks;
  }
}

/** Size of a stored value as JSON text: how owners and property values are measured. */
function jsonBytes(value: unknown): number {
  const json = JSON.stringify(value);
  return json === undefined ? 0 : Buffer.byteLength(json);
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  for (const member of Object.values(value)) deepFreeze(member);
  return Object.freeze(value);
}
