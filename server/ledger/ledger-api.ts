import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import { UdnsError } from '../../protocol/errors.js';
import { MAX_LEDGER_PAGE, type ConsistencyAnswer, type EntriesAnswer, type LedgerKeyAnswer, type MineAnswer, type SignedTreeHead } from '../../protocol/ledger.js';
import type { AccountInfo } from '../accounts/account-store.js';
import { ADMIN_ACCOUNT_NAME } from '../admin-token-handover.js';
import type { LedgerLog } from './ledger-log.js';

const size = z.coerce.number().int().min(0).max(2 ** 31 - 1);
const ConsistencyQuery = z.object({ first: size, second: size }).strict();
const MineQuery = z.object({
  treeSize: size.optional(),
  after: size.optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LEDGER_PAGE).default(100),
}).strict();
const EntriesQuery = z.object({
  after: size.optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LEDGER_PAGE).default(100),
}).strict();

/**
 * The ledger's read API (mounted under /api/v1 behind the token check):
 * - `GET /ledger/head`: the newest signed tree head (signing one first when the tree grew).
 * - `GET /ledger/key`: the edge's public key that signs heads and receipts.
 * - `GET /ledger/consistency?first=&second=`: RFC 9162 consistency proof between two sizes.
 * - `GET /ledger/mine?treeSize=&after=&limit=`: the caller's entries below treeSize (default:
 *   the head's), each with its inclusion proof; `next` pages on.
 * - `GET /ledger/entries?after=&limit=`: every entry (the admin account only).
 */
export function createLedgerRouter(ledger: LedgerLog): express.Router {
  const router = express.Router();
  router.get('/ledger/head', async (_req, res: Response) => {
    const head: SignedTreeHead = await ledger.head();
    res.json(head);
  });
  router.get('/ledger/key', (_req, res: Response) => {
    const key: LedgerKeyAnswer = ledger.publicKey();
    res.json(key);
  });
  router.get('/ledger/consistency', async (req: Request, res: Response) => {
    const { first, second } = parse(ConsistencyQuery, req.query, 'first=<tree size>&second=<larger tree size>');
    await checkSize(ledger, second);
    const answer: ConsistencyAnswer = { first, second, proof: await ledger.consistencyProof(first, second) };
    res.json(answer);
  });
  router.get('/ledger/mine', async (req: Request, res: Response) => {
    const account = res.locals.account as AccountInfo;
    const query = parse(MineQuery, req.query, `treeSize=<a signed head's size>&after=<seq>&limit=1-${MAX_LEDGER_PAGE}`);
    const treeSize = query.treeSize ?? (await ledger.head()).treeSize;
    await checkSize(ledger, treeSize);
    const found = await ledger.entriesOf(account.id, { after: query.after, below: treeSize, limit: query.limit });
    const entries = [];
    for (const entry of found) entries.push({ ...entry, proof: await ledger.inclusionProof(entry.seq, treeSize) });
    const answer: MineAnswer = { treeSize, entries, next: found.length === query.limit ? found[found.length - 1]!.seq : null };
    res.json(answer);
  });
  router.get('/ledger/entries', async (req: Request, res: Response) => {
    if ((res.locals.account as AccountInfo).name !== ADMIN_ACCOUNT_NAME) {
      throw new UdnsError('forbidden', 'only the admin account reads every ledger entry: use GET /api/v1/ledger/mine for your own');
    }
    const query = parse(EntriesQuery, req.query, `after=<seq>&limit=1-${MAX_LEDGER_PAGE}`);
    const rows = await ledger.entries({ after: query.after, limit: query.limit });
    const answer: EntriesAnswer = {
      entries: rows.map((row) => ({ ...row, createdAt: row.createdAt.toISOString() })),
      next: rows.length === query.limit ? rows[rows.length - 1]!.seq : null,
    };
    res.json(answer);
  });
  return router;
}

function parse<T>(schema: z.ZodType<T>, query: unknown, usage: string): T {
  const parsed = schema.safeParse(query);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'query'}: ${issue.message}`);
  throw new UdnsError('bad_request', `invalid query: ${problems.join('; ')}; use ${usage}`);
}

async function checkSize(ledger: LedgerLog, treeSize: number): Promise<void> {
  const size = await ledger.size();
  if (treeSize > size) throw new UdnsError('bad_request', `the ledger has ${size} entries, not ${treeSize}: use the size of a signed head (GET /api/v1/ledger/head)`);
}
