import path from 'node:path';
import { UdnsError, type TransferPath } from '../../protocol/index.js';
import { say, warn } from '../cli-output.js';
import { resolveCredentials, type EdgeTarget } from '../client-config.js';
import type { DownloadContext } from '../download/file-download.js';
import { formatBytes } from '../download/download-progress.js';
import { openMemberTransfers } from '../download/member-transfer.js';
import { canPrompt } from '../download/password-prompt.js';
import { printJson } from '../json-output.js';
import { buyFile, type BoughtFile } from './buy-file.js';
import { askToPay } from './price-quote.js';

/** The `udns get` flags a purchase uses. */
export interface PaidGetFlags {
  payUpTo?: number;
  json?: boolean;
  via?: TransferPath;
  receivePort: number;
}

/**
 * `udns get` of a file its share sells (the share answered 402): buys it through the edge's
 * escrow (buy-file.ts) into `dest` and prints the receipt (or, with --json, the sale and
 * receipt). Called from get-command.ts; `hintedPrice` is what the share's 402 said.
 */
export async function getPaidFile(url: URL, dest: string, hintedPrice: number | undefined, flags: PaidGetFlags, context: DownloadContext, env: NodeJS.ProcessEnv): Promise<void> {
  let edge: EdgeTarget;
  try {
    edge = resolveCredentials({}, env);
  } catch (error) {
    const price = hintedPrice === undefined ? '' : ` (${hintedPrice} credits)`;
    throw new UdnsError('payment_required', `${path.basename(dest)} is for sale${price}: buying needs a login to the share's edge, run \`udns login --server <url>\` first (${(error as Error).message})`);
  }
  const member = await openMemberTransfers(url, { via: flags.via, receivePort: flags.receivePort }, env, (line) => context.progress.note(line));
  let bought: BoughtFile;
  try {
    bought = await buyFile({
      url, dest, edge, env, access: context.access, progress: context.progress, retry: context.retry, member,
      ...(flags.payUpTo === undefined ? {} : { payUpTo: flags.payUpTo }),
      ...(hintedPrice === undefined ? {} : { hintedPrice }),
      ask: canPrompt() ? (question) => askToPay(question) : null,
      force: context.force,
    });
  } finally {
    member?.close();
  }
  if (flags.json) {
    printJson({ file: bought.file, size: bought.size, sha256: bought.sha256, receiptFile: bought.receiptFile, via: bought.via, sale: bought.sale, receipt: bought.receipt, edgeKey: bought.edgeKey });
    return;
  }
  if (bought.via.length > 0) warn(`transferred via ${bought.via.join(', then ')}`);
  const { sale } = bought;
  const resumed = bought.resumedFrom > 0 ? `, resumed at ${formatBytes(bought.resumedFrom)}` : '';
  say(`bought ${display(bought.file)} for ${sale.price} credits from ${sale.seller} (${formatBytes(bought.size)}, every chunk and the SHA-256 match the listing${resumed})`);
  const seq = (bought.receipt.body as { ledgerSeq?: unknown }).ledgerSeq;
  say(`receipt: ${display(bought.receiptFile)} (sale ${sale.id}, ledger entry ${String(seq)}, signed by the edge; check it with \`udns receipt verify ${display(bought.receiptFile)}\`)`);
  say(`the ${sale.price} credits reach ${sale.seller} when the dispute window closes (${new Date(sale.deadline).toISOString()})`);
}

/** A path as the user would type it: relative to the current folder when inside it. */
function display(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative === '' || relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}
