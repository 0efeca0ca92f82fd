import { isIP } from 'node:net';
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

/** TTL of a direct-mode address: as short as a claimed name's, so a failed check moves visitors back within a minute. */
export const DIRECT_ADDRESS_TTL = 60;

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
  /** Names in direct mode that passed their check: the agent's address and the route. */
  private readonly direct = new Map<string, { routeId: string; record: DirectoryRecord }>();
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
    // A newly claimed name starts empty: nothing a previous owner had may survive into it.
    this.remove(label);
    this.labels.add(label);
    this.bump();
  }

  /** Forgets a released name and every record at it or below it. */
  remove(label: string): void {
    let changed = this.labels.delete(label);
    if (this.direct.delete(label)) changed = true;
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

  /**
   * What DNS answers at an owner: the stored records, plus the address of a reachable
   * direct-mode agent at its name unless the member stored addresses of that family
   * (explicit records win) or a CNAME.
   */
  zoneRecordsAt(owner: string): readonly DirectoryRecord[] {
    const stored = this.recordsAt(owner);
    const direct = this.direct.get(owner);
    if (!direct || stored.some((record) => record.type === direct.record.type || record.type === 'CNAME')) return stored;
    return [...stored, direct.record];
  }

  /** Points `label` at a direct-mode agent's address (route `routeId`); the serial moves on a change. */
  setDirectAddress(label: string, routeId: string, address: string): void {
    const current = this.direct.get(label);
    if (current?.routeId === routeId && current.record.value === address) return;
    const type = isIP(address) === 6 ? 'AAAA' : 'A';
    this.direct.set(label, { routeId, record: Object.freeze({ type, value: address, ttl: DIRECT_ADDRESS_TTL }) });
    this.bump();
  }

  /** Points `label` back at the edge, if route `routeId` had it pointed elsewhere. */
  clearDirectAddress(label: string, routeId: string): void {
    if (this.direct.get(label)?.routeId !== routeId) return;
    this.direct.delete(label);
    this.bump();
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
