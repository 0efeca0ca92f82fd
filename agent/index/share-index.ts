import { INDEX_BUCKETS, bucketDigestsHex, bucketOf, entryDigest, type IndexEntry, type IndexSummary } from '../../protocol/index.js';

/** One indexed file: its entry as the edge gets it, and its digest and bucket (computed once). */
interface Held {
  readonly entry: IndexEntry;
  readonly bucket: number;
  readonly digest: number;
}

/**
 * The agent's copy of one listed share's index: entries by path, kept in the protocol's 4096
 * buckets with their XOR digests updated on every change, so the summary for a reconnect costs
 * nothing to produce and a wanted bucket is listed without a scan. Listeners hear every path
 * whose entry changed, appeared or went away (the sync client turns those into deltas).
 */
export class ShareIndex {
  private readonly byPath = new Map<string, Held>();
  private readonly buckets: Set<string>[] = Array.from({ length: INDEX_BUCKETS }, () => new Set());
  private readonly digests = new Uint32Array(INDEX_BUCKETS);
  private readonly listeners = new Set<(path: string, bucket: number) => void>();

  get size(): number {
    return this.byPath.size;
  }

  get(path: string): IndexEntry | undefined {
    return this.byPath.get(path)?.entry;
  }

  paths(): IterableIterator<string> {
    return this.byPath.keys();
  }

  /** Adds or replaces an entry; a no-op (no listener called) when nothing changed. */
  upsert(entry: IndexEntry): void {
    const before = this.byPath.get(entry.path);
    if (before !== undefined && sameEntry(before.entry, entry)) return;
    const digest = entryDigest(entry);
    const bucket = before?.bucket ?? bucketOf(entry.path);
    if (before !== undefined) this.digests[bucket]! ^= before.digest;
    this.digests[bucket]! ^= digest;
    this.byPath.set(entry.path, { entry, bucket, digest });
    this.buckets[bucket]!.add(entry.path);
    this.changed(entry.path, bucket);
  }

  remove(path: string): void {
    const before = this.byPath.get(path);
    if (before === undefined) return;
    this.digests[before.bucket]! ^= before.digest;
    this.byPath.delete(path);
    this.buckets[before.bucket]!.delete(path);
    this.changed(path, before.bucket);
  }

  /** Every entry of one bucket, as it is now. */
  bucketEntries(bucket: number): IndexEntry[] {
    return [...this.buckets[bucket]!].map((path) => this.byPath.get(path)!.entry);
  }

  summary(): IndexSummary {
    return { entries: this.byPath.size, digests: bucketDigestsHex(this.digests) };
  }

  /** Calls `listener(path, bucket)` after each change; returns the unsubscribe. */
  onChange(listener: (path: string, bucket: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(path: string, bucket: number): void {
    for (const listener of this.listeners) listener(path, bucket);
  }
}

function sameEntry(a: IndexEntry, b: IndexEntry): boolean {
  return a.size === b.size && a.mtime === b.mtime && a.type === b.type && a.sha256 === b.sha256 && a.price === b.price && a.merkleRoot === b.merkleRoot;
}
