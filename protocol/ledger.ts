import { createHash } from 'node:crypto';
import { z } from 'zod';
import { leafHash } from './merkle.js';
import { canonicalJson, KeyId, PublicKeyText, verifyStatement, type SignedStatement } from './signing.js';

/*
 * The ledger (issue 11): an append-only Merkle log in the manner of Certificate Transparency
 * (RFC 9162) of every credit movement, completed transfer, sale step, rating and signing key.
 * Each leaf is the canonical JSON (protocol/signing.ts canonicalJson) of one entry body below;
 * its leaf hash is RFC 9162's SHA-256(0x00 || UTF-8 body). The edge signs tree heads with its
 * Ed25519 key (statement kind `tree-head`); a member checks a head against the key it pinned,
 * its consistency with the last head it saw, and the inclusion of every entry concerning it,
 * recomputing each leaf hash from the body text the edge sent.
 */

/** Most entries one page of `/ledger/mine` or `/ledger/entries` holds. */
export const MAX_LEDGER_PAGE = 500;
/** A new tree head is signed at most this often (a head is per second, not per entry). */
export const TREE_HEAD_INTERVAL_MS = 1_000;
/** chainHash's "previous" before the first entry. */
export const LEDGER_GENESIS_CHAIN = '0'.repeat(64);

export const LEDGER_KINDS = ['credit', 'transfer', 'sale', 'rating', 'key'] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];

const hex32 = z.string().regex(/^[0-9a-f]{64}$/);
const at = z.number().int().nonnegative();
const accountId = z.number().int().positive();
const count = z.number().int().nonnegative();
/** A wallet key: `member:<id>`, `held:<id>`, `escrow` or `issuance`. */
const walletKey = z.string().regex(/^(member:[1-9][0-9]*|held:[1-9][0-9]*|escrow|issuance)$/);

/** One credit movement (server/ledger/credit-book.ts), as the CreditMovement row holds it. */
export const CreditEntryBody = z.object({
  kind: z.literal('credit'),
  at,
  movementId: z.number().int().positive().optional(),
  movement: z.object({
    /** Who asked: `member:<id>`, `operator` or `escrow`. */
    actor: z.string().max(64),
    /** The idempotency key. */
    key: z.string().max(256),
    kind: z.enum(['grant', 'send', 'reserve', 'pay', 'settle', 'refund', 'reclaim']),
    from: walletKey,
    to: walletKey,
    amount: z.number().int().positive(),
    saleId: z.string().nullable(),
    memo: z.string(),
  }).strict(),
}).strict();

/** A completed file transfer between members' PCs or through the relay (not http routes). */
export const TransferEntryBody = z.object({
  kind: z.literal('transfer'),
  at,
  reportId: z.string().max(128),
  share: z.string(),
  path: z.string(),
  /** Hex SHA-256 of the file when the sender knew it. */
  sha256: z.string().max(128).nullable(),
  size: count.nullable(),
  /** Account ids: the sharing member and the receiving member (null: an anonymous visitor). */
  owner: accountId,
  receiver: accountId.nullable(),
  via: z.enum(['direct', 'push', 'relay']),
  bytes: count,
  outcome: z.literal('complete'),
  /** The transfer record's own hash-chain link (TransferRecord.hash). */
  recordHash: hex32,
}).strict();

/** One step of a sale through the escrow (server/exchange/). */
export const SaleEntryBody = z.object({
  kind: z.literal('sale'),
  at,
  saleId: z.string().regex(/^[0-9a-f]{32}$/),
  state: z.enum(['offering', 'reserved', 'released', 'settled', 'refunded', 'failed']),
  reason: z.string().nullable(),
  /** Account ids. */
  buyer: accountId,
  seller: accountId,
  price: z.number().int().positive(),
  share: z.string(),
  path: z.string(),
  plainRoot: hex32,
  cipherRoot: hex32.nullable(),
  keyHash: hex32.nullable(),
  offerSignature: z.string().max(200).nullable(),
  acceptanceSignature: z.string().max(200).nullable(),
}).strict();

/** A buyer's rating of a seller (server/trust/). */
export const RatingEntryBody = z.object({
  kind: z.literal('rating'),
  at,
  saleId: z.string().regex(/^[0-9a-f]{32}$/),
  /** Account ids. */
  rater: accountId,
  seller: accountId,
  score: z.number().int().min(1).max(5),
  comment: z.string(),
}).strict();

/** A signing key bound to an account id, or to the edge itself (its tree-head and receipt key). */
export const KeyEntryBody = z.object({
  kind: z.literal('key'),
  at,
  account: z.union([accountId, z.literal('edge')]),
  keyId: KeyId,
  publicKey: PublicKeyText,
}).strict();

/** Any entry body: what a leaf's canonical JSON parses as. */
export const LedgerEntryBody = z.discriminatedUnion('kind', [CreditEntryBody, TransferEntryBody, SaleEntryBody, RatingEntryBody, KeyEntryBody]);
export type CreditEntryBody = z.infer<typeof CreditEntryBody>;
export type TransferEntryBody = z.infer<typeof TransferEntryBody>;
export type SaleEntryBody = z.infer<typeof SaleEntryBody>;
export type RatingEntryBody = z.infer<typeof RatingEntryBody>;
export type KeyEntryBody = z.infer<typeof KeyEntryBody>;
export type LedgerEntryBody = z.infer<typeof LedgerEntryBody>;

/** The edge's signed tree head: its Ed25519 signature over {treeSize, rootHash, timestamp}. */
export const SignedTreeHead = z.object({
  treeSize: count,
  /** Hex RFC 9162 Merkle tree hash of the first treeSize leaves. */
  rootHash: hex32,
  /** ms since the epoch. */
  timestamp: count,
  keyId: KeyId,
  /** Base64 Ed25519 signature over statementText('tree-head', treeHeadStatement(head)). */
  signature: z.string().max(200),
}).strict();
export type SignedTreeHead = z.infer<typeof SignedTreeHead>;

/** The body a tree head's signature covers. */
export function treeHeadStatement(head: Pick<SignedTreeHead, 'treeSize' | 'rootHash' | 'timestamp'>): { treeSize: number; rootHash: string; timestamp: number } {
  return { treeSize: head.treeSize, rootHash: head.rootHash, timestamp: head.timestamp };
}

/** True when `head` is signed by `publicKey` (base64 raw Ed25519). Never throws. */
export function verifyTreeHead(head: SignedTreeHead, publicKey: string): boolean {
  const statement: SignedStatement = { kind: 'tree-head', body: treeHeadStatement(head), keyId: head.keyId, signature: head.signature };
  return verifyStatement(statement, 'tree-head', publicKey);
}

/** The canonical text of an entry body: what the leaf hash covers and the database stores. */
export function ledgerBodyText(body: LedgerEntryBody): string {
  return canonicalJson(body);
}

/** Hex RFC 9162 leaf hash of a body text. */
export function ledgerLeafHash(bodyText: string): string {
  return leafHash(Buffer.from(bodyText, 'utf8')).toString('hex');
}

/** Hex SHA-256(previous chainHash bytes || leafHash bytes): the row-by-row chain of the entries. */
export function ledgerChainHash(previous: string, leaf: string): string {
  return createHash('sha256').update(Buffer.from(previous, 'hex')).update(Buffer.from(leaf, 'hex')).digest('hex');
}

// ---- JSON API (under /api/v1, bearer token) ----

/** GET /api/v1/ledger/key: the edge's tree-head (and receipt) key. */
export const LedgerKeyAnswer = z.object({ keyId: KeyId, publicKey: PublicKeyText }).strict();
export type LedgerKeyAnswer = z.infer<typeof LedgerKeyAnswer>;

/** GET /api/v1/ledger/consistency?first=&second=: RFC 9162 consistency proof (hex nodes). */
export const ConsistencyAnswer = z.object({ first: count, second: count, proof: z.array(hex32).max(128) }).strict();
export type ConsistencyAnswer = z.infer<typeof ConsistencyAnswer>;

/** One entry concerning the caller, with its inclusion proof in the answer's tree size. */
export const MineEntry = z.object({ seq: count, body: z.string(), proof: z.array(hex32).max(64) }).strict();
export type MineEntry = z.infer<typeof MineEntry>;

/**
 * GET /api/v1/ledger/mine?treeSize=&after=&limit=: entries concerning the caller with seq <
 * treeSize (default: the newest head's), oldest first; `next` is the `after` of the next page.
 */
export const MineAnswer = z.object({
  treeSize: count,
  entries: z.array(MineEntry).max(MAX_LEDGER_PAGE),
  next: count.nullable(),
}).strict();
export type MineAnswer = z.infer<typeof MineAnswer>;

/** One stored entry as the admin sees it. */
export const StoredEntry = z.object({
  seq: count,
  kind: z.string(),
  body: z.string(),
  leafHash: z.string(),
  chainHash: z.string(),
  createdAt: z.string(),
}).strict();

/** GET /api/v1/ledger/entries?after=&limit= (admin only): every entry, oldest first. */
export const EntriesAnswer = z.object({ entries: z.array(StoredEntry).max(MAX_LEDGER_PAGE), next: count.nullable() }).strict();
export type EntriesAnswer = z.infer<typeof EntriesAnswer>;
