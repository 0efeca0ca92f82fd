import express, { type Response } from 'express';
import { z } from 'zod';
import { CreditGrantRequest, CreditSendRequest, MAX_CREDITS_PAGE, type CreditMoveAnswer, type CreditMovementView, type CreditsAnswer } from '../../protocol/credits.js';
import { UdnsError } from '../../protocol/errors.js';
import type { AccountInfo } from '../accounts/account-store.js';
import { ADMIN_ACCOUNT_NAME } from '../admin-token-handover.js';
import { parseBody } from '../api/names-api.js';
import { walletAccount, type CreditBook, type MovementView } from './credit-book.js';

const HistoryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_CREDITS_PAGE).default(50),
  before: z.coerce.number().int().min(1).max(2 ** 31 - 1).optional(),
}).strict();

/** The idempotency scope of grants: the operator beside the edge and the admin account are one. */
export const OPERATOR_ACTOR = 'operator';

/** The actor (idempotency scope) of a member's own requests. */
export function memberActor(accountId: number): string {
  return `member:${accountId}`;
}

/** Movements with the account names behind member:/held: wallets, as the API shows them. */
export async function movementViews(book: Pick<CreditBook, 'accountNames'>, movements: readonly MovementView[]): Promise<CreditMovementView[]> {
  const ids = movements.flatMap((m) => [walletAccount(m.from), walletAccount(m.to)]).filter((id): id is number => id !== null);
  const names = await book.accountNames(ids);
  const nameOf = (key: string) => {
    const id = walletAccount(key);
    return id === null ? null : names.get(id) ?? null;
  };
  return movements.map((m) => ({ ...m, fromAccount: nameOf(m.from), toAccount: nameOf(m.to) }));
}

/**
 * `GET /api/v1/credits?limit&before` (the caller's balances and movements, newest first),
 * `POST /api/v1/credits/send` (to another member) and `POST /api/v1/credits/grant` (the admin
 * account: new credits from issuance). Mounted behind the bearer-token check, which puts the
 * account in `res.locals`.
 */
export function createCreditsRouter(book: CreditBook): express.Router {
  const router = express.Router();
  const account = (res: Response): AccountInfo => res.locals.account as AccountInfo;

  router.get('/credits', async (req, res) => {
    const me = account(res);
    const parsed = HistoryQuery.safeParse(req.query);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'query'}: ${issue.message}`);
      throw new UdnsError('bad_request', `invalid query: ${problems.join('; ')}; use limit=1-${MAX_CREDITS_PAGE}, before=<movement id>`);
    }
    const { limit, before } = parsed.data;
    const [balances, movements] = await Promise.all([book.balances(me.id), book.history(me.id, { limit, before })]);
    const body: CreditsAnswer = {
      account: me.name,
      ...balances,
      history: await movementViews(book, movements),
      next: movements.length === limit ? movements[movements.length - 1]!.id : null,
    };
    res.json(body);
  });

  /** The receiving account; not found names the fix. */
  async function receiver(name: string) {
    const found = await book.accountNamed(name);
    if (found === null) throw new UdnsError('not_found', `no account "${name}": check the name (the receiver's login name)`);
    return found;
  }

  router.post('/credits/send', express.json({ limit: '8kb' }), async (req, res) => {
    const me = account(res);
    const body = parseBody(CreditSendRequest, req.body);
    const to = await receiver(body.to);
    if (to.id === me.id) throw new UdnsError('bad_request', 'you cannot send credits to yourself: name another account');
    const { movement, replayed } = await book.move({
      actor: memberActor(me.id), idempotencyKey: body.idempotencyKey, kind: 'send',
      from: { member: me.id }, to: { member: to.id }, amount: body.amount, memo: body.memo,
    });
    const [view] = await movementViews(book, [movement]);
    const answer: CreditMoveAnswer = { movement: view!, replayed, available: (await book.balances(me.id)).available };
    res.json(answer);
  });

  router.post('/credits/grant', express.json({ limit: '8kb' }), async (req, res) => {
    if (account(res).name !== ADMIN_ACCOUNT_NAME) {
      throw new UdnsError('forbidden', 'only the admin account grants credits (or the operator beside the edge: udns account grant)');
    }
    const body = parseBody(CreditGrantRequest, req.body);
    const to = await receiver(body.to);
    const { movement, replayed } = await book.move({
      actor: OPERATOR_ACTOR, idempotencyKey: body.idempotencyKey, kind: 'grant',
      from: 'issuance', to: { member: to.id }, amount: body.amount, memo: body.memo,
    });
    const [view] = await movementViews(book, [movement]);
    const answer: CreditMoveAnswer = { movement: view!, replayed, available: (await book.balances(to.id)).available };
    res.json(answer);
  });
  return router;
}
