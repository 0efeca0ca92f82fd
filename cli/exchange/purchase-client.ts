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

/** How long one long-poll waits: under the CLI's 10 s request timeout (edge-api.ts). */
export const PURCHASE_WAIT_MS = 8_000;

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
    return checked(SaleView, await callEdge<unknown>(edge, 'POST', '/api/v1/purchases', request), 'the purchase');
  },
  /** GET /api/v1/purchases/:id, waiting up to PURCHASE_WAIT_MS while it is still in `state`. */
  async waitWhile(edge: EdgeTarget, id: string, state: SaleState): Promise<SaleView> {
    return checked(SaleView, await callEdge<unknown>(edge, 'GET', `${salePath(id)}?wait=${PURCHASE_WAIT_MS}&state=${state}`), 'the sale');
  },
  async get(edge: EdgeTarget, id: string): Promise<SaleView> {
    return checked(SaleView, await callEdge<unknown>(edge, 'GET', salePath(id)), 'the sale');
  },
  async accept(edge: EdgeTarget, id: string, acceptance: SignedStatement): Promise<AcceptAnswer> {
    return checked(AcceptAnswer, await callEdge<unknown>(edge, 'POST', salePath(id, 'accept'), { acceptance }), 'the acceptance');
  },
  async cancel(edge: EdgeTarget, id: string): Promise<SaleView> {
    return checked(SaleView, await callEdge<unknown>(edge, 'POST', salePath(id, 'cancel')), 'the cancellation');
  },
  async dispute(edge: EdgeTarget, id: string, proof: SaleProof): Promise<SaleView> {
    return checked(SaleView, await callEdge<unknown>(edge, 'POST', salePath(id, 'dispute'), proof), 'the proof');
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
