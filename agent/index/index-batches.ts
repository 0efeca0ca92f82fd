import { MAX_CONTROL_FRAME_BYTES, MAX_INDEX_BATCH_ENTRIES, type IndexBatch, type IndexEntry } from '../../protocol/index.js';

/**
 * Room left for the newline and for rounding: a batch's JSON line stays below this many bytes,
 * so the control stream (MAX_CONTROL_FRAME_BYTES per line) never carries one the edge refuses.
 */
export const BATCH_BYTE_BUDGET = MAX_CONTROL_FRAME_BYTES - 64;

/**
 * Builds one indexBatch within both limits of the wire: at most MAX_INDEX_BATCH_ENTRIES
 * upserts + removes, and at most BATCH_BYTE_BUDGET bytes of JSON. 500 entries with 1 KiB
 * paths are ~600 KiB, ten times a control frame: the byte limit is the one that usually cuts.
 * Sizes are counted exactly (the JSON of each piece), not estimated.
 */
export class BatchBuilder {
  private readonly reset: number[] = [];
  private readonly upserts: IndexEntry[] = [];
  private readonly removes: string[] = [];
  private bytes: number;

  constructor(private readonly routeId: string, private readonly seq: number, private readonly budget = BATCH_BYTE_BUDGET) {
    this.bytes = Buffer.byteLength(JSON.stringify(this.build()));
  }

  get entries(): number {
    return this.upserts.length + this.removes.length;
  }

  get isEmpty(): boolean {
    return this.entries === 0 && this.reset.length === 0;
  }

  addReset(bucket: number): boolean {
    return this.take(String(bucket).length, this.reset.length, () => this.reset.push(bucket), false);
  }

  addUpsert(entry: IndexEntry): boolean {
    return this.take(Buffer.byteLength(JSON.stringify(entry)), this.upserts.length, () => this.upserts.push(entry), true);
  }

  addRemove(path: string): boolean {
    return this.take(Buffer.byteLength(JSON.stringify(path)), this.removes.length, () => this.removes.push(path), true);
  }

  build(): IndexBatch {
    return { type: 'indexBatch', routeId: this.routeId, seq: this.seq, reset: this.reset, upserts: this.upserts, removes: this.removes };
  }

  /** Adds a piece of `size` bytes to a list holding `count` (a comma before all but the first). */
  private take(size: number, count: number, add: () => void, isEntry: boolean): boolean {
    const cost = size + (count > 0 ? 1 : 0);
    if (isEntry && this.entries >= MAX_INDEX_BATCH_ENTRIES) return false;
    if (this.bytes + cost > this.budget) return false;
    this.bytes += cost;
    add();
    return true;
  }
}
