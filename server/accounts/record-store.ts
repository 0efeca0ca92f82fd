import { UdnsError } from '../../protocol/errors.js';
import type { PrismaClient, Prisma } from './generated/client.js';
import {
  DEFAULT_RECORD_TTL,
  MAX_RECORDS_PER_NAME,
  MAX_RECORD_BYTES_PER_OWNER,
  canonicalValue,
  checkTtl,
  isRecordType,
  ownerName,
  parseOwner,
  type RecordOwner,
  type RecordType,
} from './record-rules.js';

/** A DNS record as the rest of the edge sees it. */
export interface DnsRecordInfo {
  readonly id: number;
  /** Owner relative to the zone apex, lowercase: `alice`, `www.alice`, `_acme-challenge.alice`. */
  readonly owner: string;
  /** The claimed name the record belongs to (`alice`). */
  readonly label: string;
  /** The path below the name ('' for the name itself, `www`). */
  readonly host: string;
  readonly type: RecordType;
  /** Canonical text (see record-rules.ts `canonicalValue`). */
  readonly value: string;
  readonly ttl: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** What a change left at its owner: every record there now, for the in-memory DNS view. */
export interface RecordChange {
  /** Owner relative to the zone apex (`www.alice`). */
  readonly owner: string;
  /** All records at that owner after the change, in answer order (type, then age). */
  readonly records: DnsRecordInfo[];
  /** False when the request matched what was already stored and nothing was written. */
  readonly changed: boolean;
}

/** A record to add. `ttl` defaults to {@link DEFAULT_RECORD_TTL}. */
export interface RecordInput {
  readonly type: RecordType;
  readonly value: string;
  readonly ttl?: number | undefined;
}

/**
 * DNS records under members' names. Owners are relative to the zone apex (`www.alice`); the
 * last label must be a name the account owns. Every method validates its input.
 */
export interface RecordStore {
  /**
   * The account's records, or only those at `owner` and below it (`alice` lists the whole name,
   * `www.alice` that sub-name and what is under it). Sorted by owner, type, age.
   * @throws UdnsError `not_found` / `forbidden` when the account does not own the name
   */
  listRecords(accountId: number, owner?: string): Promise<DnsRecordInfo[]>;
  /**
   * Adds one record. Adding a record that exists changes only its TTL (when given).
   * @throws UdnsError `record_invalid`, `record_conflict` (CNAME rules), `record_limit`,
   *   `name_invalid`, `not_found`, `forbidden`
   */
  addRecord(accountId: number, owner: string, record: RecordInput): Promise<RecordChange & { record: DnsRecordInfo }>;
  /**
   * Replaces every record of `type` at `owner` with `values` in one transaction (an empty list
   * removes them). Without `ttl`, records keep the TTL the type had there.
   * @throws like {@link addRecord}
   */
  setRecords(accountId: number, owner: string, type: RecordType, values: readonly string[], ttl?: number): Promise<RecordChange>;
  /**
   * Removes the records at `owner` (only those of `type`, only the one with `value`).
   * @throws UdnsError `not_found` when nothing matched, and like {@link addRecord}
   */
  removeRecords(accountId: number, owner: string, type?: RecordType, value?: string): Promise<RecordChange & { removed: number }>;
  /** Every record of every name, for the edge's in-memory DNS view. */
  allRecords(): Promise<DnsRecordInfo[]>;
}

type Tx = Prisma.TransactionClient;
type RecordRow = { id: number; host: string; type: string; value: string; ttl: number; createdAt: Date; updatedAt: Date };

const recordFields = { id: true, host: true, type: true, value: true, ttl: true, createdAt: true, updatedAt: true } as const;
const answerOrder = [{ host: 'asc' }, { type: 'asc' }, { id: 'asc' }] as const satisfies Prisma.DnsRecordOrderByWithRelationInput[];

function toInfo(label: string, row: RecordRow): DnsRecordInfo {
  if (!isRecordType(row.type)) throw new UdnsError('internal', `record #${row.id} has an unknown type ${JSON.stringify(row.type)} in the database`);
  return { ...row, type: row.type, label, owner: ownerName({ label, host: row.host }) };
}

function checkType(type: string): RecordType {
  if (!isRecordType(type)) throw new UdnsError('record_invalid', `unsupported record type ${JSON.stringify(type)}: use A, AAAA, TXT or CNAME`);
  return type;
}

function cnameAtNameRefused(label: string): UdnsError {
  return new UdnsError(
    'record_conflict',
    `${label} cannot be a CNAME: a claimed name always answers with addresses (the edge's or your own A/AAAA). Put the CNAME on a sub-name such as www.${label}`,
  );
}

/** The record half of the store; PrismaAccountStore exposes it. */
export class PrismaRecordStore implements RecordStore {
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  async listRecords(accountId: number, owner?: string): Promise<DnsRecordInfo[]> {
    if (owner === undefined) {
      const rows = await this.#prisma.dnsRecord.findMany({
        where: { name: { accountId } },
        select: { ...recordFields, name: { select: { label: true } } },
        orderBy: [{ name: { label: 'asc' } }, ...answerOrder],
      });
      return rows.map(({ name, ...row }) => toInfo(name.label, row));
    }
    const parsed = parseOwner(owner);
    const name = await this.#ownedName(this.#prisma, accountId, parsed.label);
    // At most MAX_RECORDS_PER_NAME rows: filtering here avoids LIKE, where '_' is a wildcard.
    const rows = await this.#prisma.dnsRecord.findMany({ where: { nameId: name.id }, select: recordFields, orderBy: answerOrder });
    return rows
      .filter((row) => parsed.host === '' || row.host === parsed.host || row.host.endsWith(`.${parsed.host}`))
      .map((row) => toInfo(name.label, row));
  }

  async addRecord(accountId: number, owner: string, input: RecordInput): Promise<RecordChange & { record: DnsRecordInfo }> {
    const type = checkType(input.type);
    const value = canonicalValue(type, input.value);
    const ttl = checkTtl(input.ttl);
    return this.#change(accountId, owner, async (tx, nameId, at) => {
      const present = await tx.dnsRecord.findMany({ where: { nameId, host: at.host }, select: recordFields });
      const same = present.find((row) => row.type === type && row.value === value);
      if (same) {
        if (ttl === undefined || ttl === same.ttl) return { changed: false, id: same.id };
        await tx.dnsRecord.update({ where: { id: same.id }, data: { ttl } });
        return { changed: true, id: same.id };
      }
      checkCname(at, type, present.filter((row) => row.type !== type || type === 'CNAME'));
      checkOwnerBytes(at, [...present.map((row) => row.value), value]);
      await checkLimit(tx, nameId, 1);
      const created = await tx.dnsRecord.create({ data: { nameId, host: at.host, type, value, ttl: ttl ?? DEFAULT_RECORD_TTL }, select: { id: true } });
      return { changed: true, id: created.id };
    }).then(({ result, change }) => ({ ...change, record: change.records.find((record) => record.id === result.id)! }));
  }

  async setRecords(accountId: number, owner: string, type: RecordType, values: readonly string[], ttlInput?: number): Promise<RecordChange> {
    checkType(type);
    const wanted = [...new Set(values.map((value) => canonicalValue(type, value)))];
    const ttlGiven = checkTtl(ttlInput);
    if (type === 'CNAME' && wanted.length > 1) throw new UdnsError('record_invalid', 'a name has at most one CNAME');
    const { change } = await this.#change(accountId, owner, async (tx, nameId, at) => {
      const present = await tx.dnsRecord.findMany({ where: { nameId, host: at.host }, select: recordFields });
      const ofType = present.filter((row) => row.type === type);
      if (wanted.length > 0) checkCname(at, type, present.filter((row) => row.type !== type));
      const ttl = ttlGiven ?? ofType[0]?.ttl ?? DEFAULT_RECORD_TTL;
      const keep = ofType.filter((row) => wanted.includes(row.value));
      const drop = ofType.filter((row) => !wanted.includes(row.value));
      const add = wanted.filter((value) => !ofType.some((row) => row.value === value));
      const retime = keep.filter((row) => row.ttl !== ttl);
      if (drop.length === 0 && add.length === 0 && retime.length === 0) return { changed: false };
      checkOwnerBytes(at, [...present.filter((row) => !drop.includes(row)).map((row) => row.value), ...add]);
      if (add.length > drop.length) await checkLimit(tx, nameId, add.length - drop.length);
      if (drop.length > 0) await tx.dnsRecord.deleteMany({ where: { id: { in: drop.map((row) => row.id) } } });
      if (retime.length > 0) await tx.dnsRecord.updateMany({ where: { id: { in: retime.map((row) => row.id) } }, data: { ttl } });
      for (const value of add) await tx.dnsRecord.create({ data: { nameId, host: at.host, type, value, ttl } });
      return { changed: true };
    });
    return change;
  }

  async removeRecords(accountId: number, owner: string, type?: RecordType, value?: string): Promise<RecordChange & { removed: number }> {
    if (type !== undefined) checkType(type);
    if (value !== undefined && type === undefined) throw new UdnsError('record_invalid', 'give the record type before its value');
    const canonical = value === undefined || type === undefined ? undefined : canonicalValue(type, value);
    const { result, change } = await this.#change(accountId, owner, async (tx, nameId, at) => {
      const { count } = await tx.dnsRecord.deleteMany({ where: { nameId, host: at.host, type, value: canonical } });
      if (count === 0) {
        const what = type === undefined ? 'no records' : canonical === undefined ? `no ${type} records` : `no ${type} record ${JSON.stringify(canonical)}`;
        throw new UdnsError('not_found', `${ownerName(at)} has ${what}`);
      }
      return { changed: true, removed: count };
    });
    return { ...change, removed: result.removed };
  }

  async allRecords(): Promise<DnsRecordInfo[]> {
    const rows = await this.#prisma.dnsRecord.findMany({
      select: { ...recordFields, name: { select: { label: true } } },
      orderBy: [{ name: { label: 'asc' } }, ...answerOrder],
    });
    return rows.map(({ name, ...row }) => toInfo(name.label, row));
  }

  /**
   * Runs `work` in a transaction that first locks the name's row, so two changes to one name
   * (count limits, CNAME exclusivity) happen one after the other on PostgreSQL too; SQLite
   * takes its write lock at the same statement. Returns what `work` returned and the records
   * left at the owner.
   */
  async #change<T extends { changed: boolean }>(
    accountId: number,
    owner: string,
    work: (tx: Tx, nameId: number, at: RecordOwner) => Promise<T>,
  ): Promise<{ result: T; change: RecordChange }> {
    const at = parseOwner(owner);
    return this.#prisma.$transaction(async (tx) => {
      await tx.$executeRaw`UPDATE "Name" SET "accountId" = "accountId" WHERE "label" = ${at.label}`;
      const name = await this.#ownedName(tx, accountId, at.label);
      const result = await work(tx, name.id, at);
      const rows = await tx.dnsRecord.findMany({ where: { nameId: name.id, host: at.host }, select: recordFields, orderBy: answerOrder });
      return { result, change: { owner: ownerName(at), records: rows.map((row) => toInfo(name.label, row)), changed: result.changed } };
    });
  }

  async #ownedName(db: Tx | PrismaClient, accountId: number, label: string): Promise<{ id: number; label: string }> {
    const name = await db.name.findUnique({ where: { label }, select: { id: true, label: true, accountId: true } });
    if (name === null) throw new UdnsError('not_found', `the name "${label}" is not claimed: claim it first with \`udns name claim ${label}\``);
    if (name.accountId !== accountId) throw new UdnsError('forbidden', `the name "${label}" belongs to another account`);
    return name;
  }
}

/** A CNAME is alone at its owner (RFC 1034 §3.6.2) and never at a claimed name itself. */
function checkCname(at: RecordOwner, type: RecordType, others: readonly RecordRow[]): void {
  const where = ownerName(at);
  if (type === 'CNAME') {
    if (at.host === '') throw cnameAtNameRefused(at.label);
    const cname = others.find((row) => row.type === 'CNAME');
    if (cname) throw new UdnsError('record_conflict', `${where} already has a CNAME (${cname.value}): replace it with \`udns dns set ${where} CNAME <target>\``);
    if (others.length > 0) {
      throw new UdnsError('record_conflict', `${where} already has ${[...new Set(others.map((row) => row.type))].join(', ')} records and a CNAME must be alone: remove them first`);
    }
    return;
  }
  const cname = others.find((row) => row.type === 'CNAME');
  if (cname) throw new UdnsError('record_conflict', `${where} is a CNAME (to ${cname.value}) and a CNAME must be alone: remove it first`);
}

function checkOwnerBytes(at: RecordOwner, values: readonly string[]): void {
  const bytes = values.reduce((sum, value) => sum + value.length, 0);
  if (bytes > MAX_RECORD_BYTES_PER_OWNER) {
    throw new UdnsError('record_limit', `${ownerName(at)} would hold ${bytes} bytes of records, more than the ${MAX_RECORD_BYTES_PER_OWNER} that fit an answer: remove some first`);
  }
}

async function checkLimit(tx: Tx, nameId: number, adding: number): Promise<void> {
  const count = await tx.dnsRecord.count({ where: { nameId } });
  if (count + adding > MAX_RECORDS_PER_NAME) {
    throw new UdnsError('record_limit', `a name holds at most ${MAX_RECORDS_PER_NAME} records (sub-names included); it has ${count}: remove some first`);
  }
}
