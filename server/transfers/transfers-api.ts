import type { IncomingMessage } from 'node:http';
import express, { type Response } from 'express';
import { TransferRequest, isUdnsError, type ErrorCode } from '../../protocol/index.js';
import type { AccountInfo } from '../accounts/account-store.js';
import { ADMIN_ACCOUNT_NAME } from '../admin-token-handover.js';
import { parseBody } from '../api/names-api.js';
import type { TicketOffice } from './ticket-office.js';

/** HTTP status of the office's refusals. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  bad_request: 400,
  not_found: 404,
  transfer_unavailable: 409,
  rate_limited: 429,
};

/**
 * `POST /api/v1/transfers` (a ticket for one shared file: which path, and for direct and push
 * the key and where to connect) and `GET /api/v1/stats/relay` (admin: bytes the edge relayed).
 * Mounted behind the bearer-token check, which puts the account in `res.locals`.
 */
export function createTransfersRouter(deps: {
  office: TicketOffice;
  relayedBytes: () => number;
  /** The request's client as the edge sees it (trusted proxies resolved). */
  clientOf: (req: IncomingMessage) => string;
}): express.Router {
  const { office, relayedBytes, clientOf } = deps;
  const router = express.Router();
  const account = (res: Response): AccountInfo => res.locals.account as AccountInfo;

  router.post('/transfers', express.json({ limit: '32kb' }), async (req, res) => {
    const body = parseBody(TransferRequest, req.body);
    try {
      res.json(await office.grant(account(res), clientOf(req), body));
    } catch (error) {
      if (!isUdnsError(error)) throw error;
      const status = STATUS[error.code] ?? 400;
      if (status === 429) res.set('Retry-After', '60');
      res.status(status).json({ error: { code: error.code, message: error.message } });
    }
  });

  router.get('/stats/relay', (_req, res) => {
    if (account(res).name !== ADMIN_ACCOUNT_NAME) {
      res.status(403).json({ error: { code: 'forbidden', message: 'only the admin account reads the edge\'s counters' } });
      return;
    }
    res.json({ relayedBytes: relayedBytes() });
  });
  return router;
}
