import express, { type Response } from 'express';
import { z } from 'zod';
import { MAX_TRANSFERS_PAGE, UdnsError, type TransferList } from '../../protocol/index.js';
import type { AccountInfo } from '../accounts/account-store.js';
import { ADMIN_ACCOUNT_NAME } from '../admin-token-handover.js';
import type { TransferLog, TransferRecordInfo } from './transfer-log.js';

const ListQuery = z.object({
  role: z.enum(['sent', 'received', 'all']).default('all'),
  kind: z.enum(['files', 'http', 'all']).default('all'),
  limit: z.coerce.number().int().min(1).max(MAX_TRANSFERS_PAGE).default(50),
  before: z.coerce.number().int().min(1).max(2 ** 31 - 1).optional(),
}).strict();

/**
 * `GET /api/v1/transfers?role=sent|received|all&kind=files|http|all&limit=N&before=ID`: the
 * caller's transfer records, newest first. A member sees the records they sent (as owner) or
 * received; `all` is both for a member, and everyone's for the admin. Mounted behind the
 * bearer-token check, which puts the account in `res.locals`.
 */
export function createTransferRecordsRouter(log: Pick<TransferLog, 'list' | 'flush' | 'verifyChain'>): express.Router {
  const router = express.Router();
  // Admin: recomputes the whole hash chain (a full read of the table) and names the first
  // record that does not verify; `head` is the latest hash, to keep and compare later.
  router.get('/transfers/verify', async (_req, res: Response) => {
    if ((res.locals.account as AccountInfo).name !== ADMIN_ACCOUNT_NAME) {
      throw new UdnsError('forbidden', 'only the admin account verifies the whole transfer log');
    }
    res.json(await log.verifyChain());
  });
  router.get('/transfers', async (req, res: Response) => {
    const account = res.locals.account as AccountInfo;
    const parsed = ListQuery.safeParse(req.query);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'query'}: ${issue.message}`);
      throw new UdnsError('bad_request', `invalid query: ${problems.join('; ')}; use role=sent|received|all, kind=files|http|all, limit=1-${MAX_TRANSFERS_PAGE}, before=<id>`);
    }
    const { role, kind, limit, before } = parsed.data;
    // What is still queued belongs in the answer: a member looking right after a download expects it.
    await log.flush();
    let rows: TransferRecordInfo[];
    if (role !== 'all') rows = await log.list({ role, accountId: account.id, kind, limit, before });
    else if (account.name === ADMIN_ACCOUNT_NAME) rows = await log.list({ role: 'all', kind, limit, before });
    else {
      // Both sides for a member: the newest `limit` of the two lists merged.
      const [sent, received] = await Promise.all([
        log.list({ role: 'sent', accountId: account.id, kind, limit, before }),
        log.list({ role: 'received', accountId: account.id, kind, limit, before }),
      ]);
      const byId = new Map([...sent, ...received].map((row) => [row.id, row]));
      rows = [...byId.values()].sort((a, b) => b.id - a.id).slice(0, limit);
    }
    const body: TransferList = {
      role,
      transfers: rows.map((row) => ({
        id: row.id, share: row.share, path: row.path, sha256: row.sha256, size: row.size, offset: row.offset,
        owner: row.owner, receiver: row.receiver, receiverNetwork: row.receiverNetwork, via: row.via,
        startedAt: row.startedAt.toISOString(), endedAt: row.endedAt.toISOString(), bytes: row.bytes, bytesUp: row.bytesUp,
        outcome: row.outcome, reportedBy: row.reportedBy, recordedAt: row.recordedAt.toISOString(), hash: row.hash, prevHash: row.prevHash,
      })),
      next: rows.length === limit ? rows[rows.length - 1]!.id : null,
    };
    res.json(body);
  });
  return router;
}
