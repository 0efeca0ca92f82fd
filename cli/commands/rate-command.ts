import fs from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { MAX_RATING_COMMENT, SaleId } from '../../protocol/exchange.js';
import { UdnsError } from '../../protocol/errors.js';
import { say } from '../cli-output.js';
import { resolveCredentials } from '../client-config.js';
import { callEdge } from '../edge-api.js';
import { printJson, withJsonFlag } from '../json-output.js';
import { withApiFlags, type ApiFlags } from '../parse-args.js';

/** POST /api/v1/purchases/:id/rating's answer (server/trust/trust-api.ts RatingAnswer). */
interface RatingAnswer {
  rating: { saleId: string; rater: string; seller: string; score: number; comment: string; createdAt: string; created: boolean };
}

interface RateFlags extends ApiFlags {
  json?: boolean;
}

function parseScore(value: string): number {
  if (!/^[1-5]$/.test(value)) throw new InvalidArgumentError(`the score must be a whole number from 1 to 5, got "${value}"`);
  return Number(value);
}

/** The comment as typed (several words are one comment), checked before anything is sent. */
export function ratingComment(words: readonly string[]): string | undefined {
  const comment = words.join(' ').trim();
  if (comment === '') return undefined;
  if (comment.length > MAX_RATING_COMMENT) throw new UdnsError('bad_request', `the comment is ${comment.length} characters, more than ${MAX_RATING_COMMENT}: shorten it`);
  if (/\p{Cc}/u.test(comment)) throw new UdnsError('bad_request', 'the comment contains control characters (line breaks, tabs…): write it on one line');
  return comment;
}

/**
 * The sale to rate: a sale id as udns get printed it, or a file udns get bought (its
 * `<file>.receipt.json` names the sale), or that receipt file itself.
 */
export function saleIdOf(target: string): string {
  const id = target.trim().toLowerCase();
  if (SaleId.safeParse(id).success) return id;
  const receipt = target.endsWith('.receipt.json') ? target : `${target}.receipt.json`;
  let text: string;
  try {
    text = fs.readFileSync(receipt, 'utf8');
  } catch {
    throw new UdnsError('bad_request', `"${target.slice(0, 80)}" is neither a sale id (32 hex digits, as udns get printed it) nor a file udns get bought (no ${receipt.slice(0, 80)} beside it)`);
  }
  let saleId: unknown;
  try {
    saleId = (JSON.parse(text) as { receipt?: { body?: { saleId?: unknown } } }).receipt?.body?.saleId;
  } catch {
    saleId = undefined;
  }
  if (typeof saleId !== 'string' || !SaleId.safeParse(saleId).success) throw new UdnsError('bad_request', `${receipt.slice(0, 80)} is not a receipt udns get saved: give the sale id instead`);
  return saleId;
}

/** `udns rate <sale-id|file> <1-5> [comment…]`: the buyer rates the seller of a completed purchase, once. */
export function registerRateCommand(program: Command): void {
  withJsonFlag(withApiFlags(program.command('rate')
    .description('rate the seller of a file you bought (once per purchase): 1 to 5 and an optional comment; the score shows in search results and on the seller\'s page')
    .argument('<sale>', 'the purchase: its sale id as udns get printed it, or the file udns get bought (its .receipt.json names the sale)')
    .argument('<score>', '1 (bad) to 5 (excellent)', parseScore)
    .argument('[comment...]', `what other buyers should know (one line, at most ${MAX_RATING_COMMENT} characters)`)))
    .action(async (saleId: string, score: number, words: string[], flags: RateFlags) => {
      const id = saleIdOf(saleId);
      const comment = ratingComment(words);
      const edge = resolveCredentials(flags, process.env);
      // A retry of the same rating is answered with the stored one, so a lost answer is safe to repeat.
      const answer = await callEdge<RatingAnswer>(edge, 'POST', `/api/v1/purchases/${id}/rating`, comment === undefined ? { score } : { score, comment });
      if (flags.json) return printJson(answer);
      const { rating } = answer;
      say(`${rating.created ? 'rated' : 'already rated'} ${rating.seller} ${rating.score}/5 for sale ${rating.saleId}${rating.comment === '' ? '' : `: "${rating.comment}"`}`);
    });
}
