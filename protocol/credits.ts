import { z } from 'zod';
import { Amount, IdempotencyKey } from './exchange.js';

/*
 * Credits (issue 11): every account has a balance in integer minor units. The operator grants
 * them (`udns account grant`, or the admin account over the API); members send them to each
 * other and pay for files with them (the escrow, server/exchange/). Every movement is one
 * double-entry row between two wallets (server/ledger/credit-book.ts) and one ledger entry.
 *
 * Wallets: `member:<id>` (what the member can spend), `held:<id>` (a seller's proceeds during
 * a sale's dispute window), `escrow` (buyers' reserved payments), `issuance` (where granted
 * credits come from: the only wallet below zero; all wallets always sum to zero).
 */

/** Most movements one page of GET /api/v1/credits holds. */
export const MAX_CREDITS_PAGE = 200;
/** Longest memo of a movement, in characters. */
export const MAX_CREDIT_MEMO = 200;

/** The movement kinds: grant (operator), send (member to member), and the escrow's steps. */
export const CreditMovementKind = z.enum(['grant', 'send', 'reserve', 'pay', 'settle', 'refund', 'reclaim']);
export type CreditMovementKind = z.infer<typeof CreditMovementKind>;

/** A memo: one line of printable text. */
const Memo = z.string().max(MAX_CREDIT_MEMO).regex(/^[^\u0000-\u001f\u007f]*$/, 'one line of text, no control characters');

/**
 * POST /api/v1/credits/send: `amount` from the caller to account `to`. A retry with the same
 * idempotencyKey and the same parameters answers the first movement (`replayed: true`) and moves
 * nothing; the same key with other parameters is `idempotency_conflict`.
 */
export const CreditSendRequest = z.object({
  to: z.string().min(1).max(64),
  amount: Amount,
  idempotencyKey: IdempotencyKey,
  memo: Memo.optional(),
}).strict();
export type CreditSendRequest = z.infer<typeof CreditSendRequest>;

/** POST /api/v1/credits/grant (the admin account only): new credits from issuance to `to`. */
export const CreditGrantRequest = CreditSendRequest;
export type CreditGrantRequest = CreditSendRequest;

/** One movement as the API shows it. */
export const CreditMovementView = z.object({
  id: z.number().int().positive(),
  kind: CreditMovementKind,
  /** Wallet keys: `member:<id>`, `held:<id>`, `escrow`, `issuance`. */
  from: z.string(),
  to: z.string(),
  /** The account names behind member:/held: wallets (null for escrow, issuance, or an account gone). */
  fromAccount: z.string().nullable(),
  toAccount: z.string().nullable(),
  amount: Amount,
  saleId: z.string().nullable(),
  memo: z.string(),
  createdAt: z.string(),
  /** Its leaf in the ledger (`udns ledger verify` checks its inclusion). */
  ledgerSeq: z.number().int().nonnegative(),
}).strict();
export type CreditMovementView = z.infer<typeof CreditMovementView>;

/** GET /api/v1/credits?limit=&before=: the caller's balances and movements, newest first. */
export const CreditsAnswer = z.object({
  account: z.string(),
  /** Spendable now. */
  available: z.number().int().nonnegative(),
  /** Proceeds of sales still in their dispute window: available once settled. */
  held: z.number().int().nonnegative(),
  history: z.array(CreditMovementView).max(MAX_CREDITS_PAGE),
  /** The `before` of the next (older) page, or null. */
  next: z.number().int().positive().nullable(),
}).strict();
export type CreditsAnswer = z.infer<typeof CreditsAnswer>;

/** The answer to a send or a grant: the movement, and whether it was a retry of an earlier one. */
export const CreditMoveAnswer = z.object({
  movement: CreditMovementView,
  replayed: z.boolean(),
  /** The caller's (send) or the receiver's (grant) balance after it. */
  available: z.number().int().nonnegative(),
}).strict();
export type CreditMoveAnswer = z.infer<typeof CreditMoveAnswer>;
