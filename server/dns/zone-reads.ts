import type { MemberRecord, ZoneView } from './zone.js';

/**
 * One thing an answer read from the zone, and what it got: a property (`domain`, `publicIp`,
 * `publicIp6`, `caa`) or a method with its argument. Values are copies, so a zone that
 * changes an array in place is still seen to have changed.
 */
export type ZoneRead =
  | { readonly what: 'domain' | 'publicIp' | 'publicIp6'; readonly value: string | undefined }
  | { readonly what: 'caa'; readonly value: readonly string[] | undefined }
  | { readonly what: 'serial'; readonly value: number }
  | { readonly what: 'isClaimed' | 'hasRecordsBelow'; readonly owner: string; readonly value: boolean }
  | { readonly what: 'recordsAt'; readonly owner: string; readonly value: readonly MemberRecord[] };

/**
 * A ZoneView that passes every read through to `zone` and writes it down in {@link reads}.
 * Answering a question is a pure function of the question and these reads
 * (`answerQuestion` touches the zone only through its ZoneView), so an answer built through a
 * RecordingZone stays right for as long as {@link stillReadsTheSame} holds — whatever changed
 * the zone, and however (members' records, claims, direct mode, ACME challenges, a reload).
 */
export class RecordingZone implements ZoneView {
  readonly reads: ZoneRead[] = [];
  /** Properties are read many times per answer; one entry each is enough. */
  private readonly propertiesRead = new Set<string>();

  constructor(private readonly zone: ZoneView) {}

  get domain(): string {
    return this.property('domain', this.zone.domain);
  }

  get publicIp(): string {
    return this.property('publicIp', this.zone.publicIp);
  }

  get publicIp6(): string | undefined {
    return this.property('publicIp6', this.zone.publicIp6);
  }

  get caa(): readonly string[] | undefined {
    const value = this.zone.caa;
    if (!this.propertiesRead.has('caa')) {
      this.propertiesRead.add('caa');
      this.reads.push({ what: 'caa', value: value === undefined ? undefined : [...value] });
    }
    return value;
  }

  serial(): number {
    const value = this.zone.serial();
    this.reads.push({ what: 'serial', value });
    return value;
  }

  isClaimed(label: string): boolean {
    const value = this.zone.isClaimed(label);
    this.reads.push({ what: 'isClaimed', owner: label, value });
    return value;
  }

  hasRecordsBelow(owner: string): boolean {
    const value = this.zone.hasRecordsBelow?.(owner) === true;
    this.reads.push({ what: 'hasRecordsBelow', owner, value });
    return value;
  }

  recordsAt(owner: string): ReturnType<ZoneView['recordsAt']> {
    const value = this.zone.recordsAt(owner);
    this.reads.push({ what: 'recordsAt', owner, value: value.map(({ type, value, ttl }) => ({ type, value, ttl })) });
    return value;
  }

  private property<T extends string | undefined>(what: 'domain' | 'publicIp' | 'publicIp6', value: T): T {
    if (!this.propertiesRead.has(what)) {
      this.propertiesRead.add(what);
      this.reads.push({ what, value });
    }
    return value;
  }
}

function sameStrings(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((value, index) => value === b[index]);
}

function sameRecords(a: readonly MemberRecord[], b: readonly MemberRecord[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.type !== y.type || x.value !== y.value || x.ttl !== y.ttl) return false;
  }
  return true;
}

/**
 * True when reading `zone` again gives what `reads` recorded, read for read. (A zone whose
 * serial or TTL is NaN never compares equal: its answers are simply never reused.)
 */
export function stillReadsTheSame(zone: ZoneView, reads: readonly ZoneRead[]): boolean {
  for (const read of reads) {
    let same: boolean;
    switch (read.what) {
      case 'domain':
      case 'publicIp':
      case 'publicIp6':
        same = zone[read.what] === read.value;
        break;
      case 'caa':
        same = sameStrings(zone.caa, read.value);
        break;
      case 'serial':
        same = zone.serial() === read.value;
        break;
      case 'isClaimed':
        same = zone.isClaimed(read.owner) === read.value;
        break;
      case 'hasRecordsBelow':
        same = (zone.hasRecordsBelow?.(read.owner) === true) === read.value;
        break;
      case 'recordsAt':
        same = sameRecords(zone.recordsAt(read.owner), read.value);
        break;
    }
    if (!same) return false;
  }
  return true;
}
