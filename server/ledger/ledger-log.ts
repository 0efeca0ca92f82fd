import { UdnsError } from '../../protocol/errors.js';
import {
  LEDGER_GENESIS_CHAIN, LedgerEntryBody, ledgerChainHash, ledgerLeafHash, TREE_HEAD_INTERVAL_MS,
  type LedgerKind, type SignedTreeHead,
} from '../../protocol/ledger.js';
import { MerkleTree } from '../../protocol/merkle.js';
import { canonicalJson, signStatement, type SignedStatement, type SigningKeyPair, type StatementKind } from '../../protocol/signing.js';
import { storeDatabase, type AccountStore, type StoreDatabase } from '../accounts/account-store.js';
import { Prisma } from '../accounts/generated/client.js';
import type { Logger } from '../logger.js';
import { holdsLedgerLock, ledgerTx, runBeforeCommit, type Tx } from './ledger-tx.js';
import { loadLedgerKey, signTreeHead } from './ledger-signer.js';

/*
 * The ledger (issue 11; protocol/ledger.ts): LedgerEntry rows numbered densely from 0, each with
 * its RFC 9162 leaf hash and a hash chain over the rows (chainHash), LedgerParty rows naming the
 * member accounts an entry concerns, and LedgerHead rows: the edge's signed tree heads. Appends
 * happen inside ledgerTx, in the same transaction as what they record. Proofs come from an
 * in-memory Merkle tree, a cache of the leaf hashes that reads what other edges appended before
 * answering.
 */

/** One entry to append: its body gets `kind` and `at` (now, ms) unless it has them. */
export interface LedgerAppend {
  readonly kind: LedgerKind;
  readonly body: Record<string, unknown>;
  /** The member accounts the entry concerns (their `udns ledger verify` checks it). */
  readonly parties: readonly number[];
}

export interface LedgerLog {
  /**
   * Appends inside a ledgerTx transaction (the lock is what keeps seq dense and the chain
   * linear); returns the seqs. @throws UdnsError internal for a body protocol/ledger.ts refuses
   */
  appendIn(tx: Tx, entries: readonly LedgerAppend[]): Promise<number[]>;
  /** How many entries the ledger holds. */
  size(): Promise<number>;
  /** The newest signed tree head, signing a new one first when the tree grew since (at most one per TREE_HEAD_INTERVAL_MS). */
  head(): Promise<SignedTreeHead>;
  /** Hex inclusion proof of leaf `seq` in the tree of `treeSize` leaves. @throws UdnsError bad_request */
  inclusionProof(seq: number, treeSize: number): Promise<string[]>;
  /** Hex consistency proof between the trees of `first` and `second` leaves. @throws UdnsError bad_request */
  consistencyProof(first: number, second: number): Promise<string[]>;
  /** Entries concerning an account with seq > after (and < below), oldest first. */
  entriesOf(accountId: number, page: { after?: number; below?: number; limit: number }): Promise<Array<{ seq: number; body: string }>>;
  /** Every entry with seq > after, oldest first (for the admin). */
  entries(page: { after?: number; limit: number }): Promise<Array<{ seq: number; kind: string; body: string; leafHash: string; chainHash: string; createdAt: Date }>>;
  /** The edge's ledger key (base64 raw public key and its id). */
  publicKey(): { keyId: string; publicKey: string };
  /** Signs a statement with the edge's ledger key (receipts). */
  sign(kind: StatementKind, body: Record<string, unknown>): SignedStatement;
  close(): Promise<void>;
}

export interface LedgerLogOptions {
  /** Where ledger-key.pem lives. */
  readonly dataDir: string;
  readonly logger: Logger;
  /** The clock (tests). */
  readonly now?: () => number;
}

/** Leaf hashes read per query when the tree catches up. */
const CATCH_UP_PAGE = 10_000;

/** Opens the ledger in the account store's database; makes the edge's key and its `key` entry on first use. */
export async function openLedgerLog(store: AccountStore, options: LedgerLogOptions): Promise<LedgerLog> {
  const pair = loadLedgerKey(options.dataDir, options.logger);
  const log = new SqlLedgerLog(storeDatabase(store), pair, options.now ?? Date.now);
  await log.recordOwnKey(options.logger);
  return log;
}

type HeadRow = { treeSize: number; rootHash: string; timestamp: bigint; keyId: string; signature: string };
type EntryRow = { seq: number; kind: string; body: string; leafHash: string; chainHash: string; createdAt: Date };

/** A transaction's appends not written yet, and the ledger's tail after them. */
interface PendingAppends {
  nextSeq: number;
  chain: string;
  readonly rows: EntryRow[];
  readonly parties: Array<{ accountId: number; seq: number }>;
}

class SqlLedgerLog implements LedgerLog {
  readonly #tree = new MerkleTree();
  /** Per open ledgerTx: its appends, written in one statement each for entries and parties just before its commit. */
  readonly #pending = new WeakMap<object, PendingAppends>();
  /** Catch-ups one at a time: each appends to the shared tree. */
  #catching: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: StoreDatabase,
    private readonly pair: SigningKeyPair,
    private readonly now: () => number,
  ) {}

  /**
   * The edge's `key` entry, once per key (under the lock, so two edges with one key append it
   * once). Another edge key already in the ledger means edges on this database sign with
   * different keys: members pin one, so heads signed by the other would fail their verify.
   */
  async recordOwnKey(logger: Logger): Promise<void> {
    const { keyId, publicKey } = this.pair;
    const others = await ledgerTx(this.db, async (tx) => {
      const keys = await tx.ledgerEntry.findMany({ where: { kind: 'key', body: { contains: '"account":"edge"' } }, select: { body: true } });
      const ids = keys.map((row) => (JSON.parse(row.body) as { keyId: string }).keyId);
      if (!ids.includes(keyId)) await this.appendIn(tx, [{ kind: 'key', body: { account: 'edge', keyId, publicKey }, parties: [] }]);
      return ids.filter((id) => id !== keyId);
    });
    if (others.length > 0) {
      logger.warn({ keyId, others }, 'other edges signed this ledger with other keys: give every edge on this database the same ledger-key.pem (members pin one key)');
    }
  }

  async appendIn(tx: Tx, entries: readonly LedgerAppend[]): Promise<number[]> {
    if (!holdsLedgerLock(tx)) throw new UdnsError('internal', 'LedgerLog.appendIn runs only inside ledgerTx (server/ledger/ledger-tx.ts)');
    if (entries.length === 0) return [];
    const pending = await this.#pendingOf(tx);
    let seq = pending.nextSeq;
    let chain = pending.chain;
    const now = this.now();
    const createdAt = new Date(now);
    const rows: EntryRow[] = [];
    const parties: Array<{ accountId: number; seq: number }> = [];
    for (const entry of entries) {
      const body = { at: now, ...entry.body, kind: entry.kind };
      const checked = LedgerEntryBody.safeParse(body);
      if (!checked.success) {
        const problems = checked.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ');
        throw new UdnsError('internal', `a ${entry.kind} ledger entry does not match protocol/ledger.ts: ${problems}`);
      }
      const text = canonicalJson(body);
      const leaf = ledgerLeafHash(text);
      chain = ledgerChainHash(chain, leaf);
      rows.push({ seq, kind: entry.kind, body: text, leafHash: leaf, chainHash: chain, createdAt });
      for (const accountId of new Set(entry.parties)) parties.push({ accountId, seq });
      seq++;
    }
    // Only once every entry checked: a refused body leaves the transaction's appends as they were.
    pending.rows.push(...rows);
    pending.parties.push(...parties);
    pending.nextSeq = seq;
    pending.chain = chain;
    return rows.map((row) => row.seq);
  }

  /**
   * The transaction's appends so far; the first call reads the ledger's tail (the lock keeps it
   * ours until the commit) and has them written just before the commit. Entries are numbered and
   * chained here, so the rows that name them (a movement's ledgerSeq, a receipt) need not wait
   * for the write; LedgerParty and CreditMovement have no foreign key to LedgerEntry.
   */
  async #pendingOf(tx: Tx): Promise<PendingAppends> {
    const known = this.#pending.get(tx);
    if (known !== undefined) return known;
    // Plain SQL under the lock: a model query costs about four times the CPU (credit-book.ts).
    const [last] = await tx.$queryRaw<Array<{ seq: number | bigint; chainHash: string }>>`SELECT "seq", "chainHash" FROM "LedgerEntry" ORDER BY "seq" DESC LIMIT 1`;
    const pending: PendingAppends = { nextSeq: last === undefined ? 0 : Number(last.seq) + 1, chain: last?.chainHash ?? LEDGER_GENESIS_CHAIN, rows: [], parties: [] };
    this.#pending.set(tx, pending);
    runBeforeCommit(tx, async () => {
      if (pending.rows.length > 0) {
        const values = pending.rows.map((row) => Prisma.sql`(${row.seq}, ${row.kind}, ${row.body}, ${row.leafHash}, ${row.chainHash}, ${row.createdAt})`);
        await tx.$executeRaw`INSERT INTO "LedgerEntry" ("seq", "kind", "body", "leafHash", "chainHash", "createdAt") VALUES ${Prisma.join(values)}`;
      }
      if (pending.parties.length > 0) {
        const values = pending.parties.map((party) => Prisma.sql`(${party.accountId}, ${party.seq})`);
        await tx.$executeRaw`INSERT INTO "LedgerParty" ("accountId", "seq") VALUES ${Prisma.join(values)}`;
      }
    });
    return pending;
  }

  async size(): Promise<number> {
    return this.#read(sizeOf);
  }

  async head(): Promise<SignedTreeHead> {
    const fresh = (latest: HeadRow | null, size: number): boolean =>
      latest !== null && (latest.treeSize >= size || this.now() - Number(latest.timestamp) < TREE_HEAD_INTERVAL_MS);
    const [latest, size] = await this.#read((client) => Promise.all([client.ledgerHead.findFirst({ orderBy: { treeSize: 'desc' } }), sizeOf(client)]));
    if (fresh(latest, size)) return headOf(latest!);
    const rootHash = (await this.#catchUp(size)).root(size).toString('hex');
    // Signed under the lock, after reading the newest head again: edges asking at once sign
    // one head per interval, and tree sizes only grow from head to head.
    return ledgerTx(this.db, async (tx) => {
      const again = await tx.ledgerHead.findFirst({ orderBy: { treeSize: 'desc' } });
      if (fresh(again, size)) return headOf(again!);
      // Never earlier than the head before it, whatever another edge's clock said.
      const timestamp = Math.max(this.now(), again === null ? 0 : Number(again.timestamp));
      const head = signTreeHead(this.pair, size, rootHash, timestamp);
      await tx.ledgerHead.create({ data: { ...head, timestamp: BigInt(head.timestamp) } });
      return head;
    });
  }

  async inclusionProof(seq: number, treeSize: number): Promise<string[]> {
    if (!Number.isSafeInteger(treeSize) || treeSize < 1 || !Number.isSafeInteger(seq) || seq < 0 || seq >= treeSize) {
      throw new UdnsError('bad_request', `no inclusion proof of entry ${seq} in a tree of ${treeSize}: the entry must be below the tree size`);
    }
    const tree = await this.#catchUp(treeSize);
    return tree.inclusionProof(seq, treeSize).map((node) => node.toString('hex'));
  }

  async consistencyProof(first: number, second: number): Promise<string[]> {
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 0 || first > second) {
      throw new UdnsError('bad_request', `no consistency proof from ${first} to ${second} entries: the first size must be between 0 and the second`);
    }
    const tree = await this.#catchUp(second);
    return tree.consistencyProof(first, second).map((node) => node.toString('hex'));
  }

  async entriesOf(accountId: number, page: { after?: number; below?: number; limit: number }): Promise<Array<{ seq: number; body: string }>> {
    return this.#read(async (client) => {
      const seqs = (await client.ledgerParty.findMany({
      where: { accountId, seq: { gt: page.after ?? -1, ...(page.below !== undefined ? { lt: page.below } : {}) } },
      orderBy: { seq: 'asc' },
      take: page.limit,
        select: { seq: true },
      })).map((row) => row.seq);
      const rows = await client.ledgerEntry.findMany({ where: { seq: { in: seqs } }, select: { seq: true, body: true } });
      const bodies = new Map(rows.map((row) => [row.seq, row.body]));
      return seqs.map((seq) => {
        const body = bodies.get(seq);
        if (body === undefined) throw ledgerDamaged(`entry ${seq} is missing`);
        return { seq, body };
      });
    });
  }

  async entries(page: { after?: number; limit: number }): Promise<Array<{ seq: number; kind: string; body: string; leafHash: string; chainHash: string; createdAt: Date }>> {
    return this.#read((client) => client.ledgerEntry.findMany({ where: { seq: { gt: page.after ?? -1 } }, orderBy: { seq: 'asc' }, take: page.limit }));
  }

  publicKey(): { keyId: string; publicKey: string } {
    return { keyId: this.pair.keyId, publicKey: this.pair.publicKey };
  }

  sign(kind: StatementKind, body: Record<string, unknown>): SignedStatement {
    return signStatement(kind, body, this.pair);
  }

  async close(): Promise<void> {
    await this.#catching.catch(() => undefined);
  }

  /**
   * Reads committed rows only. On SQLite every query of this process shares one connection, so
   * a plain read made while a ledgerTx is open would see its uncommitted entries (which may
   * still roll back) and the cache would keep them: reads take their turn as transactions.
   * Never call from inside ledgerTx (SQLite: the connection's transactions take turns).
   */
  #read<T>(work: (client: Tx) => Promise<T>): Promise<T> {
    if (this.db.dialect === 'sqlite') return this.db.prisma.$transaction((tx) => work(tx), { timeout: 30_000, maxWait: 30_000 });
    return work(this.db.prisma as unknown as Tx);
  }

  /**
   * The cached tree, with at least `size` leaves read from the database (other edges may have
   * appended). Committed entries are a dense prefix (appends hold the lock until commit), so
   * any rows read extend the cache.
   * @throws UdnsError bad_request when the ledger is smaller than `size`; internal when a seq is missing
   */
  #catchUp(size: number): Promise<MerkleTree> {
    const run = this.#catching.then(async () => {
      while (this.#tree.size < size) {
        const from = this.#tree.size;
        const rows = await this.#read((client) => client.ledgerEntry.findMany({ where: { seq: { gte: from } }, orderBy: { seq: 'asc' }, take: CATCH_UP_PAGE, select: { seq: true, leafHash: true } }));
        if (rows.length === 0) throw new UdnsError('bad_request', `the ledger has ${from} entries, not ${size}: ask for a tree size from a signed head`);
        for (const row of rows) {
          if (row.seq !== this.#tree.size) throw ledgerDamaged(`entry ${this.#tree.size} is missing`);
          this.#tree.append(Buffer.from(row.leafHash, 'hex'));
        }
      }
      return this.#tree;
    });
    this.#catching = run.catch(() => undefined);
    return run;
  }
}

async function sizeOf(client: Pick<Tx, 'ledgerEntry'>): Promise<number> {
  const last = await client.ledgerEntry.findFirst({ orderBy: { seq: 'desc' }, select: { seq: true } });
  return last === null ? 0 : last.seq + 1;
}

function headOf(row: HeadRow): SignedTreeHead {
  return { treeSize: row.treeSize, rootHash: row.rootHash, timestamp: Number(row.timestamp), keyId: row.keyId, signature: row.signature };
}

function ledgerDamaged(what: string): UdnsError {
  return new UdnsError('internal', `the ledger is damaged (${what}): the operator should run \`udns ledger audit\` beside the edge`);
}
