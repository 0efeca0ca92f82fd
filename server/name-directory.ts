import type { RecordType } from './accounts/record-rules.js';

/** A member's record as DNS answers it (ZoneView.recordsAt). */
export interface DirectoryRecord {
  readonly type: RecordType;
  readonly value: string;
  readonly ttl: number;
}

/** A stored record with its owner, as the directory is loaded at start. */
export interface OwnedRecord extends DirectoryRecord {
  /** Relative to the zone apex, lowercase: `alice`, `www.alice`. */
  readonly owner: string;
}

const NO_RECORDS: readonly DirectoryRecord[] = Object.freeze([]);

/**
 * The edge's in-memory view of which labels are claimed and which records members set under
 * them, kept in step with the database by the code that changes either (zone-editor.ts and
 * the tunnel registry). DNS answers from it synchronously; the SOA serial moves whenever it
 * changes.
 */
export class NameDirectory {
  private readonly labels: Set<string>;
  private readonly records = new Map<string, readonly DirectoryRecord[]>();
  /** For each owner, how many owners strictly below it hold records (empty non-terminals). */
  private readonly ownersBelow = new Map<string, number>();
  private currentSerial: number;

  constructor(labels: Iterable<string>, records: Iterable<OwnedRecord> = [], now: Date = new Date()) {
    this.labels = new Set(labels);
    const byOwner = new Map<string, DirectoryRecord[]>();
    for (const { owner, type, value, ttl } of records) {
      const list = byOwner.get(owner) ?? [];
      list.push({ type, value, ttl });
      byOwner.set(owner, list);
    }
    for (const [owner, list] of byOwner) this.store(owner, list);
    // Seconds since the epoch: grows across restarts without keeping state.
    this.currentSerial = Math.floor(now.getTime() / 1000);
  }

  isClaimed(label: string): boolean {
    return this.labels.has(label);
  }

  add(label: string): void {
    if (this.labels.has(label)) return;
    this.labels.add(label);
    this.bump();
  }

  /** Forgets a released name and every record at it or below it. */
  remove(label: string): void {
    let changed = this.labels.delete(label);
    for (const owner of [...this.records.keys()]) {
      if (owner === label || owner.endsWith(`.${label}`)) {
        this.store(owner, []);
        changed = true;
      }
    }
    if (changed) this.bump();
  }

  /**
   * Records at an owner relative to the zone apex (`alice`, `www.alice`), in answer order;
   * empty when none. The array and its records are frozen.
   */
  recordsAt(owner: string): readonly DirectoryRecord[] {
    return this.records.get(owner) ?? NO_RECORDS;
  }

  /** True when some owner strictly below `owner` holds records. */
  hasRecordsBelow(owner: string): boolean {
    return (this.ownersBelow.get(owner) ?? 0) > 0;
  }

  /** Replaces the records at `owner` (an empty list removes them); the serial moves only on a difference. */
  setRecordsAt(owner: string, records: readonly DirectoryRecord[]): void {
    const before = this.recordsAt(owner);
    const same = before.length === records.length &&
      before.every((record, index) => record.type === records[index]!.type && record.value === records[index]!.value && record.ttl === records[index]!.ttl);
    if (same) return;
    this.store(owner, records);
    this.bump();
  }

  serial(): number {
    return this.currentSerial;
  }

  private store(owner: string, records: readonly DirectoryRecord[]): void {
    const had = this.records.has(owner);
    if (records.length === 0) this.records.delete(owner);
    else this.records.set(owner, Object.freeze(records.map(({ type, value, ttl }) => Object.freeze({ type, value, ttl }))));
    const has = records.length > 0;
    if (had === has) return;
    for (let dot = owner.indexOf('.'); dot !== -1; dot = owner.indexOf('.', dot + 1)) {
      const ancestor = owner.slice(dot + 1);
      const count = (this.ownersBelow.get(ancestor) ?? 0) + (has ? 1 : -1);
      if (count > 0) this.ownersBelow.set(ancestor, count);
      else this.ownersBelow.delete(ancestor);
    }
  }

  private bump(): void {
    this.currentSerial = Math.max(this.currentSerial + 1, Math.floor(Date.now() / 1000));
  }
}
