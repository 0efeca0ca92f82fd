import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { CreditMoveAnswer, CreditsAnswer, MAX_CREDIT_MEMO, MAX_CREDITS_PAGE, type CreditMovementView } from '../../protocol/credits.js';
import { IdempotencyKey, MAX_AMOUNT, UdnsError, isUdnsError } from '../../protocol/index.js';
import { say, warn } from '../cli-output.js';
import { resolveCredentials, type EdgeTarget } from '../client-config.js';
import { callEdge } from '../edge-api.js';
import { printJson, withJsonFlag } from '../json-output.js';
import { withApiFlags } from '../parse-args.js';

/** Retries of one send after a timeout or a dropped connection, with the same idempotency key. */
export const SEND_RETRIES = 3;
const RETRY_DELAYS_MS = [500, 1_000, 2_000];

/** A positive whole number of credits, as typed. @throws UdnsError bad_request */
export function parseAmount(text: string): number {
  const amount = /^[0-9]{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(amount) || amount < 1 || amount > MAX_AMOUNT) {
    throw new UdnsError('bad_request', `the amount must be a whole number of credits from 1 to ${MAX_AMOUNT}, got "${text}"`);
  }
  return amount;
}

/** The idempotency key to use: `--key`, checked, or a fresh random one for this invocation. */
export function idempotencyKeyOf(flag: string | undefined): string {
  if (flag === undefined) return `cli-${randomBytes(16).toString('hex')}`;
  if (!IdempotencyKey.safeParse(flag).success) throw new UdnsError('bad_request', `--key must be 8-128 characters of letters, digits and ._:-, got "${flag}"`);
  return flag;
}

/** A memo flag, checked before anything is sent. */
export function checkMemo(memo: string | undefined): string | undefined {
  if (memo === undefined) return undefined;
  if (memo.length > MAX_CREDIT_MEMO || /[\u0000-\u001f\u007f]/.test(memo)) throw new UdnsError('bad_request', `--memo must be one line of at most ${MAX_CREDIT_MEMO} characters`);
  return memo;
}

/**
 * POSTs a movement, retrying with the same idempotency key when the answer was lost (timeout,
 * reset, refused, or something else than the edge answered) or the edge failed (internal): the
 * edge moves the credits at most once per key, so a retry either finds the first movement or
 * makes it.
 */
export async function postMovement(edge: EdgeTarget, path: string, body: { idempotencyKey: string } & Record<string, unknown>): Promise<CreditMoveAnswer> {
  for (let attempt = 0; ; attempt++) {
    try {
      const answer = CreditMoveAnswer.safeParse(await callEdge<unknown>(edge, 'POST', path, body));
      if (!answer.success) throw new UdnsError('server_unreachable', `the edge answered POST ${path} with something else than a movement: is it an older udns edge?`);
      return answer.data;
    } catch (error) {
      // `internal`: the edge failed (a database hiccup); the same key makes a retry safe too.
      if (!isUdnsError(error, 'server_unreachable') && !isUdnsError(error, 'internal')) throw error;
      if (attempt >= SEND_RETRIES) {
        throw new UdnsError(error.code, `${error.message}; the credits may or may not have moved: run the same command again with --key ${body.idempotencyKey} to finish it without paying twice`);
      }
      warn(`${error.message}; retrying (${attempt + 1} of ${SEND_RETRIES}) with the same idempotency key`);
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAYS_MS[attempt]));
    }
  }
}

interface CreditsFlags {
  server?: string;
  token?: string;
  tokenFile?: string;
  json?: boolean;
  limit: string;
  before?: string;
}

interface SendFlags {
  server?: string;
  token?: string;
  tokenFile?: string;
  json?: boolean;
  memo?: string;
  key?: string;
}

/** `udns credits` (balance and history) and `udns credits send <user> <amount>`. */
export function registerCreditsCommand(program: Command): void {
  const credits = withJsonFlag(withApiFlags(program.command('credits')
    .description('show your credits (available, held until sales settle) and their history; send some to another member')
    .option('--limit <n>', `movements to show (1-${MAX_CREDITS_PAGE})`, '20')
    .option('--before <id>', 'older movements: those before this movement id (the next page)')))
    .action(async (flags: CreditsFlags) => {
      const limit = Number(flags.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CREDITS_PAGE) throw new UdnsError('bad_request', `--limit must be a whole number from 1 to ${MAX_CREDITS_PAGE}, got "${flags.limit}"`);
      if (flags.before !== undefined && !/^[1-9]\d{0,9}$/.test(flags.before)) throw new UdnsError('bad_request', `--before must be a movement id, got "${flags.before}"`);
      const query = new URLSearchParams({ limit: String(limit) });
      if (flags.before !== undefined) query.set('before', flags.before);
      const answer = CreditsAnswer.safeParse(await callEdge<unknown>(resolveCredentials(flags), 'GET', `/api/v1/credits?${query}`));
      if (!answer.success) throw new UdnsError('server_unreachable', 'the edge answered GET /api/v1/credits with something else than credits: is it an older udns edge?');
      const view = answer.data;
      if (flags.json) return printJson(view);
      say(`${view.account}: ${view.available} credits available${view.held > 0 ? `, ${view.held} held until sales settle` : ''}`);
      if (view.history.length === 0) {
        say('no movements yet');
        return;
      }
      printTable(view.history.map((movement) => columns(movement, view.account)));
      if (view.next !== null) say(`older: udns credits --before ${view.next}`);
    });

  withJsonFlag(withApiFlags(credits.command('send')
    .description('send credits to another member (retried safely: the same key never pays twice)')
    .argument('<user>', 'the receiving account')
    .argument('<amount>', 'a whole number of credits')
    .option('--memo <text>', 'a note the receiver sees')
    .option('--key <key>', 'idempotency key (default: a new random one); repeat a send that may have failed with the key it printed')))
    .action(async (user: string, amountText: string, _flags: SendFlags, command: Command) => {
      // `udns credits`'s own --json, --server… take the flags written after `send` too.
      const flags = command.optsWithGlobals<SendFlags>();
      const amount = parseAmount(amountText);
      const memo = checkMemo(flags.memo);
      const idempotencyKey = idempotencyKeyOf(flags.key);
      const answer = await postMovement(resolveCredentials(flags), '/api/v1/credits/send', { to: user, amount, idempotencyKey, ...(memo === undefined ? {} : { memo }) });
      if (flags.json) return printJson(answer);
      const { movement } = answer;
      say(`${answer.replayed ? 'already sent' : 'sent'} ${movement.amount} credits to ${movement.toAccount ?? user} (movement ${movement.id}, ledger entry ${movement.ledgerSeq}); ${answer.available} available`);
    });
}

const HEADINGS = ['ID', 'WHEN', 'KIND', 'AMOUNT', 'PEER', 'MEMO'] as const;

/** A movement from the member's side: the signed change, and who was on the other side. */
function columns(m: CreditMovementView, me: string): string[] {
  const mine = (key: string, account: string | null, prefix: string) => key.startsWith(prefix) && account === me;
  const available = (mine(m.to, m.toAccount, 'member:') ? m.amount : 0) - (mine(m.from, m.fromAccount, 'member:') ? m.amount : 0);
  const held = (mine(m.to, m.toAccount, 'held:') ? m.amount : 0) - (mine(m.from, m.fromAccount, 'held:') ? m.amount : 0);
  const signed = (n: number) => (n > 0 ? `+${n}` : String(n));
  const amount = [available !== 0 ? signed(available) : '', held !== 0 ? `${signed(held)} held` : ''].filter(Boolean).join(', ') || String(m.amount);
  const side = (key: string, account: string | null) => (key === 'issuance' ? 'operator' : key === 'escrow' ? 'escrow' : account === me ? (key.startsWith('held:') ? 'held' : 'you') : account ?? key);
  const incoming = available + held > 0;
  const peer = incoming ? `← ${side(m.from, m.fromAccount)}` : `→ ${side(m.to, m.toAccount)}`;
  const when = m.createdAt.replace('T', ' ').slice(0, 16);
  const memo = [m.memo, m.saleId === null ? '' : `sale ${m.saleId.slice(0, 8)}`].filter(Boolean).join('  ');
  return [String(m.id), when, m.kind, amount, peer, memo];
}

/** Columns padded to their widest cell; AMOUNT right-aligned. */
function printTable(rows: string[][]): void {
  const all = [[...HEADINGS], ...rows];
  const widths = HEADINGS.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  for (const row of all) {
    say(row.map((cell, i) => (i === row.length - 1 ? cell : i === 3 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd());
  }
}
