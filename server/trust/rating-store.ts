import { MAX_RATING_COMMENT, SaleId } from '../../protocol/exchange.js';
import { UdnsError } from '../../protocol/errors.js';
import type { StoreDatabase } from '../accounts/account-store.js';
import type { LedgerLog } from '../ledger/ledger-log.js';
import { ledgerTx } from '../ledger/ledger-tx.js';

/*
 * Ratings (issue 11): the buyer of a completed purchase (released or settled, so not refunded)
 * rates the seller once, 1 to 5 with an optional comment. The Rating row and its `rating`
 * ledger entry are written in one ledgerTx transaction. Repeating the same rating answers the
 * stored one (a retried request); another score or comment for the same sale is refused.
 */

/** A rating as the API answers it. */
export interface RatingView {
  saleId: string;
  rater: string;
  seller: string;
  score: number;
  comment: string;
  createdAt: string;
  /** False when the same rating was already stored (a retried request). */
  created: boolean;
}

/** A rating as a member page shows it. */
export interface ReceivedRating {
  rater: string;
  score: number;
  comment: string;
  createdAt: string;
}

export interface RatingStore {
  /**
   * @throws UdnsError not_found (no such sale), forbidden (not the buyer), sale_state (not
   *   completed, or already rated differently), bad_request (score or comment)
   */
  rate(input: { saleId: string; raterId: number; score: number; comment?: string }): Promise<RatingView>;
  /** The newest ratings a seller received, newest first. */
  received(sellerId: number, limit: number): Promise<ReceivedRating[]>;
}

/** Sale states after which the buyer may rate. */
const RATEABLE = new Set(['released', 'settled']);

/** Checks a comment: at most MAX_RATING_COMMENT characters, no control characters (one line). */
export function checkComment(comment: string): string {
  const text = comment.trim();
  if (text.length > MAX_RATING_COMMENT) throw new UdnsError('bad_request', `the comment is longer than ${MAX_RATING_COMMENT} characters: shorten it`);
  if (/\p{Cc}/u.test(text)) throw new UdnsError('bad_request', 'the comment contains control characters (line breaks, tabs…): write it on one line');
  return text;
}

export function openRatingStore(db: StoreDatabase, ledger: Pick<LedgerLog, 'appendIn'>, options: { now?: () => number; onRated?: () => void } = {}): RatingStore {
  const { prisma } = db;
  const now = options.now ?? Date.now;
  const names = async (ids: number[]): Promise<Map<number, string>> => {
    const rows = await prisma.account.findMany({ where: { id: { in: ids } }, select: { id: true, name: true } });
    return new Map(rows.map((row) => [row.id, row.name]));
  };

  return {
    async rate({ saleId, raterId, score, comment = '' }) {
      if (!SaleId.safeParse(saleId).success) throw new UdnsError('bad_request', `"${String(saleId).slice(0, 40)}" is not a sale id (32 hex digits, as udns get printed it)`);
      if (!Number.isInteger(score) || score < 1 || score > 5) throw new UdnsError('bad_request', 'the score must be a whole number from 1 to 5');
      const text = checkComment(comment);
      const outcome = await ledgerTx(db, async (tx) => {
        const sale = await tx.sale.findUnique({ where: { id: saleId }, select: { buyerId: true, sellerId: true, state: true } });
        if (sale === null) throw new UdnsError('not_found', `no sale ${saleId}: check the id (udns get printed it with the receipt)`);
        if (sale.buyerId !== raterId) throw new UdnsError('forbidden', `only the buyer of sale ${saleId} may rate it`);
        const existing = await tx.rating.findUnique({ where: { saleId } });
        if (existing !== null) {
          if (existing.score === score && existing.comment === text) return { row: existing, created: false };
          throw new UdnsError('sale_state', `sale ${saleId} is already rated (${existing.score}/5): a purchase is rated once`);
        }
        if (!RATEABLE.has(sale.state)) {
          throw new UdnsError('sale_state', `sale ${saleId} is ${sale.state}: only a completed purchase (released or settled) can be rated`);
        }
        const at = now();
        const row = await tx.rating.create({ data: { saleId, buyerId: raterId, sellerId: sale.sellerId, score, comment: text, createdAt: new Date(at) } });
        await ledger.appendIn(tx, [{
          kind: 'rating',
          body: { kind: 'rating', at, saleId, rater: raterId, seller: sale.sellerId, score, comment: text },
          parties: [raterId, sale.sellerId],
        }]);
        return { row, created: true };
      });
      if (outcome.created) options.onRated?.();
      const { row } = outcome;
      const byId = await names([row.buyerId, row.sellerId]);
      return {
        saleId, rater: byId.get(row.buyerId) ?? String(row.buyerId), seller: byId.get(row.sellerId) ?? String(row.sellerId),
        score: row.score, comment: row.comment, createdAt: row.createdAt.toISOString(), created: outcome.created,
      };
    },

    async received(sellerId, limit) {
      // Ratings of purchases refunded after a proof are not shown (they are not counted either).
      const ids = await prisma.$queryRawUnsafe<Array<{ id: unknown }>>(
        `SELECT r."id" FROM "Rating" r JOIN "Sale" s ON s."id" = r."saleId"
         WHERE r."sellerId" = ${Math.trunc(sellerId)} AND s."state" IN ('released', 'settled') ORDER BY r."id" DESC LIMIT ${Math.max(1, Math.min(100, Math.trunc(limit)))}`,
      );
      const rows = await prisma.rating.findMany({ where: { id: { in: ids.map((row) => Number(row.id)) } }, orderBy: { id: 'desc' } });
      const byId = await names([...new Set(rows.map((row) => row.buyerId))]);
      return rows.map((row) => ({ rater: byId.get(row.buyerId) ?? String(row.buyerId), score: row.score, comment: row.comment, createdAt: row.createdAt.toISOString() }));
    },
  };
}
