import { z } from 'zod';
import {
  LEDGER_GENESIS_CHAIN, LedgerEntryBody, ledgerChainHash, ledgerLeafHash, verifyTreeHead,
  type CreditEntryBody, type LedgerEntryBody as EntryBody,
} from '../../protocol/ledger.js';
import { MerkleTree } from '../../protocol/merkle.js';
import { canonicalJson } from '../../protocol/signing.js';
import type { StoreDatabase } from '../accounts/account-store.js';
import type { Tx } from './ledger-tx.js';

/*
 * The operator's audit (`udns ledger audit`, beside the edge): recomputes everything the ledger
 * and the books claim from the rows themselves, in one read snapshot (a live edge may keep
 * writing). Entries: dense seq from 0, leaf hash of the body, chain hash, a body the protocol
 * describes, parties that match the body. Heads: the root of every stored signed head from the
 * recomputed leaves, its signature by an edge key the ledger recorded, and (with the memory of
 * the previous audit) that no head seen before is gone. Books: every wallet's balance from the
 * movements, every movement against its ledger entry and every credit entry against its
 * movement, escrow and held balances against the sales, all wallets summing to zero.
 */

/** One thing that does not add up; `seq` orders the report (the first bad entry first). */
export interface AuditProblem {
  /** The entry concerned, or the last entry a head covers; null for a book-level finding. */
  readonly seq: number | null;
  readonly what: string;
}

export interface AuditReport {
  readonly ok: boolean;
  readonly entries: number;
  readonly heads: number;
  readonly movements: number;
  readonly wallets: number;
  readonly sales: number;
  /** Sum of every wallet's balance (0 when the books balance), as a decimal string. */
  readonly walletSum: string;
  /** The newest signed head's size and root, when there is one. */
  readonly newestHead: { treeSize: number; rootHash: string; timestamp: number } | null;
  /** Key ids that signed the heads. */
  readonly signers: string[];
  /** First bad thing first; at most MAX_PROBLEMS. */
  readonly problems: AuditProblem[];
}

/** What one audit remembers for the next: the heads it saw (a deleted head is then noticed). */
export const AuditMemory = z.object({
  v: z.literal(1),
  /** [treeSize, timestamp] of every head seen, by treeSize. */
  heads: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])),
}).strict();
export type AuditMemory = z.infer<typeof AuditMemory>;

export const MAX_PROBLEMS = 100;
const PAGE = 5_000;
/** A large ledger takes a while to read; the snapshot is held for the whole audit. */
const AUDIT_TIMEOUT_MS = 60 * 60_000;

/** `seq N: what`, or `what` for a book-level finding. */
export function formatProblem(problem: AuditProblem): string {
  return problem.seq === null ? problem.what : `seq ${problem.seq}: ${problem.what}`;
}

/** Audits the ledger and the books in `db` (see the comment at the top). */
export async function auditLedger(db: StoreDatabase, options: { previous?: AuditMemory | null } = {}): Promise<{ report: AuditReport; memory: AuditMemory }> {
  const run = (tx: Tx) => audit(tx, options.previous ?? null);
  if (db.dialect === 'postgresql') {
    // The client is typed for SQLite (whose only level is Serializable); PostgreSQL's takes this.
    const snapshot = { isolationLevel: 'RepeatableRead', timeout: AUDIT_TIMEOUT_MS, maxWait: 30_000 } as unknown as { timeout: number };
    return db.prisma.$transaction((tx) => run(tx), snapshot);
  }
  // SQLite (WAL): a read transaction sees one snapshot from its first read on.
  return db.prisma.$transaction((tx) => run(tx), { timeout: AUDIT_TIMEOUT_MS, maxWait: 30_000 });
}

async function audit(tx: Tx, previous: AuditMemory | null): Promise<{ report: AuditReport; memory: AuditMemory }> {
  const problems: AuditProblem[] = [];
  const report = (seq: number | null, what: string): void => {
    problems.push({ seq, what });
  };

  // ---- Entries: dense, hashed, chained; the leaves recomputed from the bodies. ----
  const tree = new MerkleTree();
  const bodies = new Map<number, EntryBody>();
  const creditSeqs = new Set<number>();
  const edgeKeys = new Map<string, string>();
  let expected = 0;
  let chain = LEDGER_GENESIS_CHAIN;
  let after = -1;
  for (;;) {
    const rows = await tx.ledgerEntry.findMany({ where: { seq: { gt: after } }, orderBy: { seq: 'asc' }, take: PAGE });
    for (const row of rows) {
      if (row.seq !== expected) {
        report(expected, row.seq > expected ? `missing (deleted?): the next stored entry is seq ${row.seq}` : `stored twice`);
        // Leaves of missing entries are unknown: heads over them cannot match; keep positions.
        while (tree.size < row.seq) tree.append(Buffer.alloc(32));
        expected = row.seq;
      }
      const leaf = ledgerLeafHash(row.body);
      tree.append(Buffer.from(leaf, 'hex'));
      if (leaf !== row.leafHash) report(row.seq, `the body does not match its leaf hash (the body or the hash was edited)`);
      const linked = ledgerChainHash(chain, row.leafHash);
      if (linked !== row.chainHash) report(row.seq, `the chain hash does not follow the entry before it (an entry was edited, deleted or moved)`);
      // From the stored link on: one edited row is one finding, not one per later row.
      chain = row.chainHash;
      const parsed = parseBody(row.body);
      if (typeof parsed === 'string') report(row.seq, parsed);
      else {
        if (parsed.kind !== row.kind) report(row.seq, `kind column says ${row.kind}, the body says ${parsed.kind}`);
        bodies.set(row.seq, parsed);
        if (parsed.kind === 'credit') creditSeqs.add(row.seq);
        if (parsed.kind === 'key' && parsed.account === 'edge') edgeKeys.set(parsed.keyId, parsed.publicKey);
      }
      expected = row.seq + 1;
    }
    if (rows.length < PAGE) break;
    after = rows[rows.length - 1]!.seq;
  }
  const entries = expected;

  // ---- Parties: exactly the accounts each body names (a member's verify checks these). ----
  const parties = new Map<number, Set<number>>();
  const lastParty = (await tx.ledgerParty.aggregate({ _max: { seq: true } }))._max.seq ?? -1;
  for (let low = 0; low <= lastParty; low += PAGE) {
    const rows = await tx.ledgerParty.findMany({ where: { seq: { gte: low, lt: low + PAGE } }, select: { seq: true, accountId: true } });
    for (const row of rows) {
      const set = parties.get(row.seq) ?? new Set<number>();
      set.add(row.accountId);
      parties.set(row.seq, set);
    }
  }
  for (const [seq, set] of parties) {
    if (!bodies.has(seq) && !problems.some((p) => p.seq === seq)) report(seq, `names parties (${[...set].join(', ')}) but the entry is missing`);
  }
  for (const [seq, body] of bodies) {
    const want = partiesOf(body);
    const have = [...(parties.get(seq) ?? [])].sort((a, b) => a - b);
    if (want.join(',') !== have.join(',')) report(seq, `parties [${have.join(', ')}] do not match the body's [${want.join(', ')}] (a member would not see this entry)`);
  }

  // ---- Heads: root from the recomputed leaves, signature by a recorded edge key. ----
  const heads = await tx.ledgerHead.findMany({ orderBy: { treeSize: 'asc' } });
  const signers = new Set<string>();
  let lastTimestamp = 0;
  for (const head of heads) {
    const at = head.treeSize - 1;
    const timestamp = Number(head.timestamp);
    const statement = { treeSize: head.treeSize, rootHash: head.rootHash, timestamp, keyId: head.keyId, signature: head.signature };
    signers.add(head.keyId);
    const key = edgeKeys.get(head.keyId);
    if (head.treeSize > tree.size) report(at, `the signed head of size ${head.treeSize} covers entries that are missing`);
    else if (tree.root(head.treeSize).toString('hex') !== head.rootHash) report(at, `the signed head of size ${head.treeSize} does not match the entries below it (an entry up to seq ${at} was changed and re-hashed, or the head was forged)`);
    if (key === undefined) report(at, `the head of size ${head.treeSize} is signed by key ${head.keyId}, which no edge key entry records (forged head?)`);
    else if (!verifyTreeHead(statement, key)) report(at, `the signature of the head of size ${head.treeSize} does not verify with edge key ${head.keyId} (forged or edited head)`);
    if (timestamp < lastTimestamp) report(at, `the head of size ${head.treeSize} is older than the head before it`);
    lastTimestamp = Math.max(lastTimestamp, timestamp);
  }
  const stored = new Map(heads.map((head) => [head.treeSize, Number(head.timestamp)]));
  for (const [treeSize, timestamp] of previous?.heads ?? []) {
    const now = stored.get(treeSize);
    if (now === undefined) report(treeSize - 1, `the signed head of size ${treeSize} (${new Date(timestamp).toISOString()}) that the last audit saw is gone (deleted head)`);
    else if (now !== timestamp) report(treeSize - 1, `the signed head of size ${treeSize} was replaced since the last audit (timestamp ${timestamp} then, ${now} now)`);
  }

  // ---- Books: movements against entries, wallets against movements, escrow against sales. ----
  const wallets = await tx.wallet.findMany({ select: { id: true, key: true, balance: true, accountId: true } });
  const keyOf = new Map(wallets.map((wallet) => [wallet.id, wallet.key]));
  const recomputed = new Map<number, bigint>(wallets.map((wallet) => [wallet.id, 0n]));
  let movements = 0;
  const moved = new Set<number>();
  for (let from = 0; ;) {
    const rows = await tx.creditMovement.findMany({ where: { id: { gt: from } }, orderBy: { id: 'asc' }, take: PAGE });
    for (const row of rows) {
      movements++;
      moved.add(row.ledgerSeq);
      recomputed.set(row.fromWalletId, (recomputed.get(row.fromWalletId) ?? 0n) - row.amount);
      recomputed.set(row.toWalletId, (recomputed.get(row.toWalletId) ?? 0n) + row.amount);
      const body = bodies.get(row.ledgerSeq);
      if (body === undefined) {
        if (!problems.some((p) => p.seq === row.ledgerSeq)) report(row.ledgerSeq, `movement #${row.id} points at this entry, which is missing`);
        continue;
      }
      if (body.kind !== 'credit') {
        report(row.ledgerSeq, `movement #${row.id} points at a ${body.kind} entry`);
        continue;
      }
      const books: CreditEntryBody['movement'] = {
        actor: row.actor, key: row.idempotencyKey, kind: row.kind as CreditEntryBody['movement']['kind'],
        from: keyOf.get(row.fromWalletId) ?? `wallet #${row.fromWalletId}`, to: keyOf.get(row.toWalletId) ?? `wallet #${row.toWalletId}`,
        amount: Number(row.amount), saleId: row.saleId, memo: row.memo,
      };
      const differs = (Object.keys(books) as Array<keyof typeof books>).filter((field) => books[field] !== body.movement[field]);
      if (differs.length > 0) {
        const detail = differs.map((field) => `${field} ${JSON.stringify(books[field])} in the books, ${JSON.stringify(body.movement[field])} in the ledger`).join('; ');
        report(row.ledgerSeq, `movement #${row.id} does not match its entry: ${detail}`);
      } else if (body.movementId !== undefined && body.movementId !== row.id) report(row.ledgerSeq, `the entry names movement #${body.movementId}, the books #${row.id}`);
    }
    if (rows.length < PAGE) break;
    from = rows[rows.length - 1]!.id;
  }
  for (const seq of creditSeqs) if (!moved.has(seq)) report(seq, `a credit entry without its movement (deleted from the books?)`);

  let sum = 0n;
  const bookProblems: AuditProblem[] = [];
  for (const wallet of wallets) {
    sum += wallet.balance;
    const want = recomputed.get(wallet.id) ?? 0n;
    if (want !== wallet.balance) bookProblems.push({ seq: null, what: `wallet ${wallet.key}: balance ${wallet.balance}, its movements add up to ${want}` });
  }
  for (const [id, amount] of recomputed) if (!keyOf.has(id) && amount !== 0n) bookProblems.push({ seq: null, what: `wallet #${id} has movements (${amount}) but no row` });
  if (sum !== 0n) bookProblems.push({ seq: null, what: `the wallets sum to ${sum}, not 0 (credits were created or lost)` });

  const sales = await tx.sale.findMany({ where: { state: { in: ['reserved', 'released'] } }, select: { state: true, sellerId: true, price: true } });
  const saleCount = await tx.sale.count();
  let escrowWant = 0n;
  const heldWant = new Map<string, bigint>();
  for (const sale of sales) {
    if (sale.state === 'reserved') escrowWant += sale.price;
    else heldWant.set(`held:${sale.sellerId}`, (heldWant.get(`held:${sale.sellerId}`) ?? 0n) + sale.price);
  }
  const balanceOf = new Map(wallets.map((wallet) => [wallet.key, wallet.balance]));
  const escrowHave = balanceOf.get('escrow') ?? 0n;
  if (escrowHave !== escrowWant) bookProblems.push({ seq: null, what: `escrow holds ${escrowHave}, the reserved sales' prices add up to ${escrowWant}` });
  for (const wallet of wallets) {
    if (!wallet.key.startsWith('held:')) continue;
    const want = heldWant.get(wallet.key) ?? 0n;
    if (wallet.balance !== want) bookProblems.push({ seq: null, what: `${wallet.key} holds ${wallet.balance}, the seller's released sales add up to ${want}` });
    heldWant.delete(wallet.key);
  }
  for (const [key, want] of heldWant) bookProblems.push({ seq: null, what: `${key} is missing, the seller's released sales add up to ${want}` });

  problems.sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity));
  const all = [...problems, ...bookProblems].slice(0, MAX_PROBLEMS);
  const newest = heads.at(-1);
  const seenHeads = new Map<number, number>((previous?.heads ?? []).map(([size, time]) => [size, time]));
  for (const head of heads) seenHeads.set(head.treeSize, Number(head.timestamp));
  return {
    report: {
      ok: all.length === 0,
      entries,
      heads: heads.length,
      movements,
      wallets: wallets.length,
      sales: saleCount,
      walletSum: sum.toString(),
      newestHead: newest === undefined ? null : { treeSize: newest.treeSize, rootHash: newest.rootHash, timestamp: Number(newest.timestamp) },
      signers: [...signers],
      problems: all,
    },
    memory: { v: 1, heads: [...seenHeads].sort(([a], [b]) => a - b) },
  };
}

/** The body, or what is wrong with it. */
function parseBody(text: string): EntryBody | string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return 'the body is not JSON';
  }
  const parsed = LedgerEntryBody.safeParse(json);
  if (!parsed.success) return `the body is not a ledger entry: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ')}`;
  try {
    if (canonicalJson(json) !== text) return 'the body is not in canonical form';
  } catch {
    return 'the body is not in canonical form';
  }
  return parsed.data;
}

/** The member accounts an entry concerns, as appenders record them. */
export function partiesOf(body: EntryBody): number[] {
  const ids: Array<number | null> = [];
  switch (body.kind) {
    case 'credit':
      for (const key of [body.movement.from, body.movement.to]) {
        const match = /^(?:member|held):([0-9]+)$/.exec(key);
        ids.push(match === null ? null : Number(match[1]));
      }
      break;
    case 'transfer': ids.push(body.owner, body.receiver); break;
    case 'sale': ids.push(body.buyer, body.seller); break;
    case 'rating': ids.push(body.rater, body.seller); break;
    case 'key': ids.push(body.account === 'edge' ? null : body.account); break;
  }
  return [...new Set(ids.filter((id): id is number => id !== null))].sort((a, b) => a - b);
}
