import type { IncomingMessage } from 'node:http';
import express, { type Response } from 'express';
import { z } from 'zod';
import {
  AcceptRequest,
  PurchaseRequest,
  SaleId,
  SaleProof,
  SaleState,
  SaleTransferRequest,
  UdnsError,
  type TransferGrant,
} from '../../protocol/index.js';
import type { AccountInfo } from '../accounts/account-store.js';
import { parseBody } from '../api/names-api.js';
import { shareFileOf } from '../transfers/ticket-office.js';
import type { Escrow } from './escrow.js';

/** Longest long-poll (`GET /purchases/:id?wait=`), under common proxies' 30 s idle limits. */
export const MAX_PURCHASE_WAIT_MS = 25_000;
/** How often a long-poll reads the sale again when this process saw no change (another edge may have made one: the database is the truth). */
export const PURCHASE_POLL_MS = 1_000;
/** Most sales one list call returns. */
export const MAX_PURCHASE_PAGE = 200;

const WaitQuery = z.object({
  wait: z.coerce.number().int().min(0).max(MAX_PURCHASE_WAIT_MS).optional(),
  state: SaleState.optional(),
}).strict();

const ListQuery = z.object({
  role: z.enum(['bought', 'sold', 'all']).default('all'),
  limit: z.coerce.number().int().min(1).max(MAX_PURCHASE_PAGE).default(50),
  /** createdAt (ISO) of the previous page's last sale. */
  before: z.iso.datetime().optional(),
}).strict();

/** Transfer tickets for the sealed file (the edge's TicketOffice). */
export interface SaleTickets {
  grant(account: AccountInfo, clientAddress: string, request: { url: string } & z.infer<typeof SaleTransferRequest>): Promise<TransferGrant>;
}

/**
 * `/api/v1/purchases…`: buy a paid file through the escrow, follow the sale, get a path for its
 * sealed copy, accept it (the key and receipt), cancel, dispute. Behind the token check.
 */
export function createPurchasesRouter(deps: {
  escrow: Escrow;
  domain: string;
  tickets: () => SaleTickets | null;
  /** Is the live route serving `label` one of `sellerId`'s? */
  servedBy: (label: string, sellerId: number) => boolean;
  clientOf: (req: IncomingMessage) => string;
}): express.Router {
  const { escrow } = deps;
  const router = express.Router();
  const account = (res: Response): AccountInfo => res.locals.account as AccountInfo;
  const saleId = (value: unknown): string => {
    const parsed = SaleId.safeParse(value);
    if (!parsed.success) throw new UdnsError('bad_request', 'a sale id is 32 hex digits');
    return parsed.data;
  };
  const query = <T extends z.ZodType>(schema: T, value: unknown): z.output<T> => {
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    throw new UdnsError('bad_request', `invalid query: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'query'}: ${issue.message}`).join('; ')}`);
  };

  router.post('/purchases', express.json({ limit: '64kb' }), async (req, res) => {
    const body = parseBody(PurchaseRequest, req.body);
    const target = shareFileOf(deps.domain, body.url);
    res.json(await escrow.request(account(res), body, target));
  });

  router.get('/purchases', async (req, res) => {
    const { role, limit, before } = query(ListQuery, req.query);
    res.json({ sales: await escrow.list(account(res), role, limit, before === undefined ? undefined : new Date(before)) });
  });

  router.get('/purchases/:id', async (req, res) => {
    const id = saleId(req.params.id);
    const { wait = 0, state } = query(WaitQuery, req.query);
    const who = account(res);
    let sale = await escrow.stateOf(who, id);
    if (sale === null) throw new UdnsError('not_found', `no purchase ${id} of yours`);
    if (wait > 0 && state !== undefined && sale.state === state) {
      let gone = false;
      res.once('close', () => { gone = true; });
      const until = Date.now() + wait;
      while (!gone && sale!.state === state && Date.now() < until) {
        await escrow.changed(id, Math.min(PURCHASE_POLL_MS, Math.max(1, until - Date.now())));
        sale = await escrow.stateOf(who, id);
      }
      if (gone) return;
    }
    res.json(await escrow.view(sale!));
  });

  router.post('/purchases/:id/transfer', express.json({ limit: '8kb' }), async (req, res) => {
    const id = saleId(req.params.id);
    const body = parseBody(SaleTransferRequest, req.body);
    const who = account(res);
    const sale = await escrow.stateOf(who, id);
    if (sale === null) throw new UdnsError('not_found', `no purchase ${id} of yours`);
    if (sale.buyerId !== who.id) throw new UdnsError('forbidden', `you sold ${id}: only its buyer fetches it`);
    if (sale.state !== 'reserved' && sale.state !== 'released') throw new UdnsError('sale_state', `sale ${id} is ${sale.state}: the sealed file is served once reserved and until settled`);
    const tickets = deps.tickets();
    if (tickets === null) throw new UdnsError('transfer_unavailable', 'this edge hands out no transfer tickets: fetch the sealed file through the relay');
    if (!deps.servedBy(sale.share, sale.sellerId)) {
      res.status(409).json({ error: { code: 'transfer_unavailable', message: `${sale.share} is offline: try again when the seller is back (the sale waits until ${new Date(sale.deadline).toISOString()})` } });
      return;
    }
    const view = await escrow.view(sale);
    try {
      res.json(await tickets.grant(who, deps.clientOf(req), { ...body, url: `${view.url}?sale=${id}` }));
    } catch (error) {
      if (!(error instanceof UdnsError) || (error.code !== 'transfer_unavailable' && error.code !== 'not_found')) throw error;
      res.status(409).json({ error: { code: 'transfer_unavailable', message: error.message } });
    }
  });

  router.post('/purchases/:id/accept', express.json({ limit: '64kb' }), async (req, res) => {
    const id = saleId(req.params.id);
    const body = parseBody(AcceptRequest, req.body);
    res.json(await escrow.accept(account(res), id, body.acceptance));
  });

  router.post('/purchases/:id/cancel', async (req, res) => {
    res.json(await escrow.cancel(account(res), saleId(req.params.id)));
  });

  // A sealed chunk (1 MiB + 16) in base64, two short paths and field names.
  router.post('/purchases/:id/dispute', express.json({ limit: '1500kb' }), async (req, res) => {
    const id = saleId(req.params.id);
    const body = parseBody(SaleProof, req.body);
    res.json(await escrow.dispute(account(res), id, body));
  });

  return router;
}
