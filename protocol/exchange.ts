import { z } from 'zod';
import { IndexPath } from './index-sync.js';
import { KeyId, PublicKeyText, SignedStatement, verifyStatement } from './signing.js';
import { TransferPath } from './transfer.js';

/*
 * Paid files and fair exchange (issue 11). The edge is the escrow; docs/exchange.md tells the
 * whole protocol. In short:
 *
 *  1. The listing commits to the plaintext: SHA-256 and a Merkle root (protocol/merkle.ts) over
 *     CHUNK_BYTES chunks (protocol/sealed-file.ts), synced with the index entry.
 *  2. The buyer asks (POST /api/v1/purchases); the edge asks the seller's agent (SaleRequested).
 *     The agent picks the sale key K, seals the file chunk by chunk (AES-256-GCM per chunk), and
 *     answers with a signed offer (cipher root, plain root, H(K)) and K itself (SaleOffered).
 *  3. The edge checks the offer against the listing and, in one transaction, reserves the price
 *     from the buyer's credits (state `reserved`).
 *  4. The buyer fetches the manifest (every chunk's cipher and plain leaf hash) and the sealed
 *     file over any transfer path (`<file url>?sale=<id>`), checking each chunk as it arrives;
 *     a bad chunk stops the download with nothing paid.
 *  5. The buyer sends a signed acceptance naming the cipher root it computed. If it matches, the
 *     edge, in one transaction, releases K to the buyer and moves the price to the seller's held
 *     credits (`released`), and signs a receipt.
 *  6. The buyer decrypts and checks every plaintext chunk against the listing's root. A bad one
 *     is a proof of misbehaviour (SaleProof) the edge checks itself with K: upheld, the price
 *     goes back to the buyer (`refunded`, the seller marked); refused, nothing changes.
 *  7. When the dispute window closes the held credits become the seller's (`settled`).
 *
 * Every timeout ends in a refund (or, before any reservation, in `failed`).
 */

export const SALE_ID_BYTES = 16;
/** Credits are integer minor units; one movement moves at most this. */
export const MAX_AMOUNT = 1_000_000_000_000;
/** Longest idempotency key a client may choose. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 128;
/** How long the edge waits for the seller's agent to answer a SaleRequested (default; `--offer-timeout`). */
export const DEFAULT_OFFER_TIMEOUT_MS = 5 * 60_000;
/** How long a reserved sale waits for the buyer's acceptance before the refund (default; `--sale-timeout`). */
export const DEFAULT_SALE_TIMEOUT_MS = 60 * 60_000;
/** How long after the key's release a buyer may prove misbehaviour (default; `--dispute-window`). */
export const DEFAULT_DISPUTE_WINDOW_MS = 24 * 60 * 60_000;
/** Longest rating comment, in characters. */
export const MAX_RATING_COMMENT = 500;

const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));
export const SaleId = hex(SALE_ID_BYTES);
export const Hash32 = hex(32);
export const Amount = z.number().int().positive().max(MAX_AMOUNT);
export const IdempotencyKey = z.string().min(8).max(MAX_IDEMPOTENCY_KEY_LENGTH).regex(/^[A-Za-z0-9._:-]+$/);

/** The states of a sale (the `Sale.state` column). */
export const SaleState = z.enum(['offering', 'reserved', 'released', 'settled', 'refunded', 'failed']);
export type SaleState = z.infer<typeof SaleState>;

/** Why a sale ended other than `settled` (the `Sale.reason` column). */
export const SaleEndReason = z.enum([
  /** The seller's agent did not answer in time, or is offline. */
  'offer timeout',
  /** The seller's agent declined (file gone, changed, not priced any more…). */
  'declined',
  /** The offer did not match the listing (price, size, plain root) or its signature did not verify. */
  'bad offer',
  /** The buyer had too few credits when the offer arrived. */
  'insufficient credits',
  /** The buyer cancelled before the key was released. */
  'cancelled',
  /** Nobody accepted before the sale timeout. */
  'sale timeout',
  /** An upheld proof of misbehaviour. */
  'proof upheld',
]);
export type SaleEndReason = z.infer<typeof SaleEndReason>;

// ---- Signed statement bodies (protocol/signing.ts) ----

/** The seller's offer (kind `offer`), signed by the seller's key. */
export const OfferBody = z.object({
  v: z.literal(1),
  saleId: SaleId,
  seller: z.string(),
  buyer: z.string(),
  share: z.string(),
  path: IndexPath,
  size: z.number().int().nonnegative(),
  price: Amount,
  chunkBytes: z.number().int().positive(),
  plainSha256: Hash32,
  plainRoot: Hash32,
  cipherRoot: Hash32,
  /** SHA-256 of "udns-sale-key-v1\n" || K: the escrow must release exactly this key. */
  keyHash: Hash32,
  offeredAt: z.number().int().nonnegative(),
}).strict();
export type OfferBody = z.infer<typeof OfferBody>;

/** The buyer's acceptance (kind `acceptance`): what it received hashes to cipherRoot. */
export const AcceptanceBody = z.object({
  v: z.literal(1),
  saleId: SaleId,
  buyer: z.string(),
  cipherRoot: Hash32,
  /** The offer's signature: the acceptance is of that offer and no other. */
  offerSignature: z.string().max(200),
  acceptedAt: z.number().int().nonnegative(),
}).strict();
export type AcceptanceBody = z.infer<typeof AcceptanceBody>;

/**
 * The edge's receipt (kind `receipt`), signed with the ledger key: the offer and acceptance it
 * covers (each with its own signature) and the public keys that verify them, so anyone holding
 * the edge's public key can check the whole exchange offline (verifyReceipt).
 */
export const ReceiptBody = z.object({
  v: z.literal(1),
  saleId: SaleId,
  offer: SignedStatement,
  acceptance: SignedStatement,
  sellerKey: PublicKeyText,
  buyerKey: PublicKeyText,
  releasedAt: z.number().int().nonnegative(),
  /** The ledger leaf that records the release (protocol/ledger.ts). */
  ledgerSeq: z.number().int().nonnegative(),
}).strict();
export type ReceiptBody = z.infer<typeof ReceiptBody>;

// ---- Control messages (tunnel control stream; part of AgentMessage / EdgeMessage) ----

/** Edge → seller's agent: make an offer for `path` of listed share route `routeId`. */
export const SaleRequested = z.object({
  type: z.literal('saleRequested'),
  saleId: SaleId,
  routeId: z.string().max(64),
  path: IndexPath,
  /** The price, size and plain root the listing showed the buyer: the offer must repeat them. */
  price: Amount,
  size: z.number().int().nonnegative(),
  plainRoot: Hash32,
  buyer: z.string().max(64),
  /** Until when the edge waits for the offer (ms since the epoch). */
  expiresAt: z.number().int().nonnegative(),
}).strict();

/** Seller's agent → edge: the signed offer and the sale key K (hex, 32 bytes). */
export const SaleOffered = z.object({
  type: z.literal('saleOffered'),
  saleId: SaleId,
  offer: SignedStatement,
  key: hex(32),
}).strict();

/** Why an agent declines a sale. */
export const SaleDeclineReason = z.enum(['not for sale', 'changed', 'unreadable', 'busy', 'no signing key']);

/** Seller's agent → edge: no offer for this sale. */
export const SaleDeclined = z.object({
  type: z.literal('saleDeclined'),
  saleId: SaleId,
  reason: SaleDeclineReason,
}).strict();

/**
 * Edge → seller's agent: the sale ended (settled, refunded or failed); the agent forgets its
 * sealing state. Sales the agent never hears about are forgotten after its own timeout.
 */
export const SaleClosed = z.object({
  type: z.literal('saleClosed'),
  saleId: SaleId,
  state: SaleState,
}).strict();

export type SaleRequested = z.infer<typeof SaleRequested>;
export type SaleOffered = z.infer<typeof SaleOffered>;
export type SaleDeclineReason = z.infer<typeof SaleDeclineReason>;
export type SaleDeclined = z.infer<typeof SaleDeclined>;
export type SaleClosed = z.infer<typeof SaleClosed>;

// ---- JSON API (under /api/v1, bearer token) ----

/** POST /api/v1/purchases: buy the file at `url` for at most `maxPrice`. */
export const PurchaseRequest = z.object({
  url: z.string().min(1).max(12_288),
  maxPrice: Amount,
  /** The same key twice is the same sale (a retried request never buys twice). */
  idempotencyKey: IdempotencyKey,
}).strict();
export type PurchaseRequest = z.infer<typeof PurchaseRequest>;

/** A sale as the API shows it to its buyer or seller. */
export const SaleView = z.object({
  id: SaleId,
  state: SaleState,
  reason: SaleEndReason.nullable(),
  seller: z.string(),
  buyer: z.string(),
  share: z.string(),
  path: z.string(),
  /** `<share url><path>`: GET it with `?sale=<id>` for the sealed file, `&manifest=1` for the manifest. */
  url: z.string(),
  price: z.number().int(),
  size: z.number().int(),
  plainSha256: z.string(),
  plainRoot: z.string(),
  /** Once offered. */
  offer: SignedStatement.nullable(),
  /** ms since the epoch: when the current state times out, or the dispute window closes. */
  deadline: z.number().int(),
  createdAt: z.string(),
}).strict();
export type SaleView = z.infer<typeof SaleView>;

/** POST /api/v1/purchases/:id/accept. */
export const AcceptRequest = z.object({ acceptance: SignedStatement }).strict();
/** Its answer: the key and the edge's receipt. */
export const AcceptAnswer = z.object({ key: hex(32), receipt: SignedStatement, sale: SaleView }).strict();
export type AcceptAnswer = z.infer<typeof AcceptAnswer>;

/**
 * POST /api/v1/purchases/:id/dispute: chunk `index` of the sealed file does not decrypt under
 * the released key to the plaintext the listing committed to. `cipherChunk` (base64) is the
 * sealed chunk as received, `cipherPath` its inclusion proof in the offer's cipher root;
 * `plainLeaf` the listing's leaf hash at `index` (from the manifest), `plainPath` its inclusion
 * proof in the plain root. The edge checks both proofs, decrypts with K and compares.
 */
export const SaleProof = z.object({
  index: z.number().int().nonnegative(),
  cipherChunk: z.string().max(Math.ceil(((1 << 20) + 16) / 3) * 4),
  cipherPath: z.array(Hash32).max(64),
  plainLeaf: Hash32,
  plainPath: z.array(Hash32).max(64),
}).strict();
export type SaleProof = z.infer<typeof SaleProof>;

/** POST /api/v1/purchases/:id/rating. */
export const RatingRequest = z.object({
  score: z.number().int().min(1).max(5),
  comment: z.string().max(MAX_RATING_COMMENT).optional(),
}).strict();
export type RatingRequest = z.infer<typeof RatingRequest>;

/** POST /api/v1/purchases/:id/transfer: a transfer path for the sealed file (as TransferRequest, without url). */
export const SaleTransferRequest = z.object({
  receiverPort: z.number().int().min(1).max(65535).optional(),
  receiverKey: hex(32).optional(),
  via: TransferPath.optional(),
  avoid: z.array(TransferPath).max(3).optional(),
}).strict();

/** POST /api/v1/keys: register this member's public signing key. */
export const RegisterKeyRequest = z.object({ publicKey: PublicKeyText }).strict();
export const KeyView = z.object({ keyId: KeyId, publicKey: PublicKeyText, account: z.string(), createdAt: z.string(), revokedAt: z.string().nullable() }).strict();
export type KeyView = z.infer<typeof KeyView>;

/** A seller's trust as search results and pages show it (server/trust/). */
export const TrustView = z.object({
  /** 0 to 5, one decimal; null with no counted rating yet. */
  score: z.number().nullable(),
  ratings: z.number().int().nonnegative(),
  disputesLost: z.number().int().nonnegative(),
}).strict();
export type TrustView = z.infer<typeof TrustView>;

/** The idempotency key's text for a sale step, so every party derives the same movement keys. */
export function saleMovementKey(saleId: string, step: 'reserve' | 'pay' | 'settle' | 'refund' | 'reclaim'): string {
  return `sale:${saleId}:${step}`;
}

/** What {@link verifyReceipt} found: the three bodies when everything holds, else the first problem. */
export type ReceiptCheck =
  | { ok: true; receipt: ReceiptBody; offer: OfferBody; acceptance: AcceptanceBody }
  | { ok: false; problem: string };

/**
 * Checks an edge receipt offline: the edge's signature (with `edgeKey`, base64 raw), the
 * seller's on the offer and the buyer's on the acceptance (with the keys the receipt names),
 * and that the three agree: one sale id, the acceptance of exactly this offer (its signature),
 * the buyer named in both, the cipher root the buyer computed equal to the seller's. Never throws.
 */
export function verifyReceipt(receipt: SignedStatement, edgeKey: string): ReceiptCheck {
  const fail = (problem: string): ReceiptCheck => ({ ok: false, problem });
  const statement = SignedStatement.safeParse(receipt);
  if (!statement.success) return fail('not a signed statement');
  if (statement.data.kind !== 'receipt') return fail(`a ${statement.data.kind} statement, not a receipt`);
  if (!verifyStatement(statement.data, 'receipt', edgeKey)) return fail('the edge\'s signature does not verify with the given edge key');
  const body = ReceiptBody.safeParse(statement.data.body);
  if (!body.success) return fail('the receipt\'s body is not a udns receipt');
  const { offer, acceptance, sellerKey, buyerKey, saleId } = body.data;
  if (!verifyStatement(offer, 'offer', sellerKey)) return fail('the seller\'s signature on the offer does not verify with the seller key in the receipt');
  if (!verifyStatement(acceptance, 'acceptance', buyerKey)) return fail('the buyer\'s signature on the acceptance does not verify with the buyer key in the receipt');
  const offerBody = OfferBody.safeParse(offer.body);
  if (!offerBody.success) return fail('the offer\'s body is not a udns offer');
  const acceptanceBody = AcceptanceBody.safeParse(acceptance.body);
  if (!acceptanceBody.success) return fail('the acceptance\'s body is not a udns acceptance');
  if (offerBody.data.saleId !== saleId || acceptanceBody.data.saleId !== saleId) return fail('the offer, acceptance and receipt name different sales');
  if (acceptanceBody.data.offerSignature !== offer.signature) return fail('the acceptance is of another offer');
  if (acceptanceBody.data.buyer !== offerBody.data.buyer) return fail('the acceptance is signed for another buyer than the offer names');
  if (acceptanceBody.data.cipherRoot !== offerBody.data.cipherRoot) return fail('the buyer accepted another cipher root than the seller offered');
  if (sellerKey === buyerKey) return fail('the seller and buyer keys are the same');
  return { ok: true, receipt: body.data, offer: offerBody.data, acceptance: acceptanceBody.data };
}
