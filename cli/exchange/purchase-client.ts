import { z } from 'zod';
import {
  AcceptAnswer,
  KeyView,
  PublicKeyText,
  SaleView,
  UdnsError,
  type PurchaseRequest,
  type SaleProof,
  type SaleState,
  type SignedStatement,
} from '../../protocol/index.js';
import type { EdgeTarget } from '../client-config.js';
import { callEdge } from '../edge-api.js';

/**
 * The escrow's API as the buyer calls it (server/exchange/purchases-api.ts): every answer is
 * checked with the protocol's schema, so a wrong edge is one clear error, not a crash later.
 */

/** How long one long-poll waits: well under PURCHASE_CALL_TIMEOUT_MS. */
export const PURCHASE_WAIT_MS = 8_000;
/**
 * How long a call of the escrow may take. Each step is a transaction under the edge's one ledger
 * lock, so on a busy edge it queues behind every other member's step (50 buyers at ~100-200 ms a
 * transaction on PostgreSQL on a loaded 2-core machine: 5-10 s), past edge-api.ts's 10 s default.
 * Giving up there only made it worse: the edge still ran the abandoned step, and the command's
 * rerun queued again. Every call here is idempotent, and a dead edge still fails at once
 * (connection refused).
 */
export const PURCHASE_CALL_TIMEOUT_MS = 60_000;
const patient = { timeoutMs: PURCHASE_CALL_TIMEOUT_MS };

const AccountKeys = z.object({ account: z.string(), keys: z.array(KeyView) });
const EdgeKey = z.object({ keyId: z.string(), publicKey: PublicKeyText }).passthrough();

function checked<T extends z.ZodType>(schema: T, answer: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(answer);
  if (!parsed.success) throw new UdnsError('protocol_violation', `the edge answered ${what} with an unexpected document (${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? ''})`);
  return parsed.data;
}

const salePath = (id: string, action = ''): string => `/api/v1/purchases/${id}${action === '' ? '' : `/${action}`}`;

export const purchases = {
  /** POST /api/v1/purchases: the same idempotency key twice is the same sale. */
  async request(edge: EdgeTarget, request: PurchaseRequest): Promise<SaleView> {
    return checked(SaleView, await callEdge<unknown>(edge, 'POST', '/api/v1/purchases', request, patient), 'the purchase');
  },
  /** GET /api/v1/purchases/:id, waiting up to PURCHASE_WAIT_MS while it is still in `state`. */
  async waitWhile(edge: EdgeTarget, id: string, state: SaleState): Promise<SaleView> {
    return checked(SaleView, await callEdge<unknown>(edge, 'GET', `${salePath(id)}?wait=${PURCHASE_WAIT_MS}&state=${state}`, undefined, patient), 'the sale');
  },
  async get(edge: EdgeTarget, id: string): Promise<SaleView> {
    return checked(SaleView, await callEdge<unknown>(edge, 'GET', salePath(id), undefined, patient), 'the sale');
  },
  async accept(edge: EdgeTarget, id: string, acceptance: SignedStatement): Promise<AcceptAnswer> {
    return checked(AcceptAnswer, await callEdge<unknown>(edge, 'POST', salePath(id, 'accept'), { acceptance }, patient), 'the acceptance');
  },
  async cancel(edge: EdgeTarget, id: string): Promise<SaleView> {
    return checked(SaleView, await callEdge<unknown>(edge, 'POST', salePath(id, 'cancel'), undefined, patient), 'the cancellation');
  },
  async dispute(edge: EdgeTarget, id: string, proof: SaleProof): Promise<SaleView> {
    return checked(SaleView, await callEdge<unknown>(edge, 'POST', salePath(id, 'dispute'), proof, patient), 'the proof');
  },
  /** Every key `account` registered (revoked ones too): GET /api/v1/keys/:account. */
  async keysOf(edge: EdgeTarget, account: string): Promise<KeyView[]> {
    return checked(AccountKeys, await callEdge<unknown>(edge, 'GET', `/api/v1/keys/${encodeURIComponent(account)}`), 'the key list').keys;
  },
  /** The edge's public ledger key, which signs receipts (GET /api/v1/ledger/key). */
  async edgeKey(edge: EdgeTarget): Promise<{ keyId: string; publicKey: string }> {
    return checked(EdgeKey, await callEdge<unknown>(edge, 'GET', '/api/v1/ledger/key'), 'the ledger key');
  },
  /** Where the sealed file's transfer tickets come from (transfer-paths.ts grantPath). */
  transferPath(id: string): string {
    return salePath(id, 'transfer');
  },
};
