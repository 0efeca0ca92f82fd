import type { Command } from 'commander';
import { ChainVerdictView, MAX_TRANSFERS_PAGE, TransferList, UdnsError, type TransferRecordView } from '../../protocol/index.js';
import { say } from '../cli-output.js';
import { resolveCredentials } from '../client-config.js';
import { formatBytes } from '../download/download-progress.js';
import { callEdge } from '../edge-api.js';
import { printJson, withJsonFlag } from '../json-output.js';
import { withApiFlags } from '../parse-args.js';

interface TransfersFlags {
  server?: string;
  token?: string;
  json?: boolean;
  sent?: boolean;
  received?: boolean;
  limit: string;
  before?: string;
  http?: boolean;
  verify?: boolean;
}

async function verify(flags: TransfersFlags): Promise<void> {
  const answer = ChainVerdictView.safeParse(await callEdge<unknown>(resolveCredentials(flags), 'GET', '/api/v1/transfers/verify'));
  if (!answer.success) throw new UdnsError('server_unreachable', 'the edge answered GET /api/v1/transfers/verify with something else than a verdict: is it an older udns edge?');
  const verdict = answer.data;
  if (flags.json) printJson(verdict);
  else if (verdict.ok) say(`${verdict.records} records, chain intact; head ${verdict.head}`);
  else say(`chain BROKEN at record ${verdict.brokenAt} (after ${verdict.records} good records): ${verdict.reason}`);
  if (!verdict.ok) process.exitCode = 1;
}

/** `udns transfers`: the member's own transfer records (files sent and received), newest first. */
export function registerTransfersCommand(program: Command): void {
  withJsonFlag(withApiFlags(program.command('transfers')
    .description('show your transfer records: files others fetched from your shares, and files you fetched')
    .option('--sent', 'only files others fetched from your shares')
    .option('--received', 'only files you fetched')
    .option('--limit <n>', `records to show (1-${MAX_TRANSFERS_PAGE})`, '50')
    .option('--before <id>', 'older records: those before this record id (the next page)')
    .option('--http', 'also visitor connections of your http routes (bytes only)')
    .option('--verify', 'admin: recompute the hash chain of every record and name the first that does not verify')))
    .action(async (flags: TransfersFlags) => {
      if (flags.verify) {
        await verify(flags);
        return;
      }
      if (flags.sent && flags.received) throw new UdnsError('bad_request', 'give --sent or --received, not both (neither shows both)');
      const limit = Number(flags.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_TRANSFERS_PAGE) throw new UdnsError('bad_request', `--limit must be a whole number from 1 to ${MAX_TRANSFERS_PAGE}, got "${flags.limit}"`);
      if (flags.before !== undefined && !/^[1-9]\d{0,9}$/.test(flags.before)) throw new UdnsError('bad_request', `--before must be a record id, got "${flags.before}"`);
      const role = flags.sent ? 'sent' : flags.received ? 'received' : 'all';
      const query = new URLSearchParams({ role, kind: flags.http ? 'all' : 'files', limit: String(limit) });
      if (flags.before !== undefined) query.set('before', flags.before);
      const edge = resolveCredentials(flags);
      const answer = TransferList.safeParse(await callEdge<unknown>(edge, 'GET', `/api/v1/transfers?${query}`));
      if (!answer.success) throw new UdnsError('server_unreachable', 'the edge answered GET /api/v1/transfers with something else than a list of transfers: is it an older udns edge?');
      const list = answer.data;
      if (flags.json) {
        printJson(list);
        return;
      }
      if (list.transfers.length === 0) {
        say(role === 'sent' ? 'no one fetched a file from your shares yet' : role === 'received' ? 'you have not fetched any shared file yet' : 'no transfers yet');
        return;
      }
      const me = (await callEdge<{ account: string }>(edge, 'GET', '/api/v1/me')).account;
      printTable(list.transfers.map((row) => columns(row, me)));
      if (list.next !== null) say(`older: udns transfers${flags.sent ? ' --sent' : flags.received ? ' --received' : ''} --before ${list.next}`);
    });
}

const HEADINGS = ['WHEN', 'WHAT', 'SIZE', 'PEER', 'VIA', 'OUTCOME'] as const;

function columns(row: TransferRecordView, me: string): string[] {
  const when = row.endedAt.replace('T', ' ').slice(0, 16);
  const what = row.via === 'http' ? `${row.share} (connection)` : `${row.share}${row.path}`;
  const size = row.via === 'http'
    ? `${formatBytes(row.bytes)} down, ${formatBytes(row.bytesUp)} up`
    : row.size !== null && row.bytes !== row.size ? `${formatBytes(row.bytes)} of ${formatBytes(row.size)}` : formatBytes(row.bytes);
  // The other side: who fetched it from me, or whose share I fetched it from.
  const receiver = row.receiver ?? `visitor ${row.receiverNetwork ?? '?'}`;
  const owner = row.owner ?? '(gone)';
  // The admin's list holds other members' transfers too: both sides then.
  const peer = row.owner === me ? `→ ${receiver}` : row.receiver === me ? `← ${owner}` : `${owner} → ${receiver}`;
  return [when, what, size, peer, row.via, row.outcome];
}

/** Columns padded to their widest cell; the WHAT column is shortened from the left past 60. */
function printTable(rows: string[][]): void {
  const cells = rows.map((row) => row.map((cell, i) => (i === 1 && cell.length > 60 ? `…${cell.slice(-59)}` : cell)));
  const all = [[...HEADINGS], ...cells];
  const widths = HEADINGS.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  for (const row of all) say(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}
