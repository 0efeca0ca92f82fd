import fs from 'node:fs';
import path from 'node:path';
import { isUdnsError } from '../../protocol/index.js';
import { say, warn } from '../cli-output.js';
import { resolveCredentials, type EdgeTarget } from '../client-config.js';
import type { DownloadContext } from '../download/file-download.js';
import type { PricedFile, PricedFileHandler } from '../download/folder-download.js';
import type { MemberTransfers } from '../download/member-transfer.js';
import { buyFile } from './buy-file.js';
import { purchaseFilesFor } from './sale-file.js';

/**
 * What `udns get -r` does with the files a folder sells. Without `--pay-up-to`: skips each with
 * one line on stderr naming its price and the command that buys it (a folder never asks on the
 * terminal: one question per file is no way to shop). With `--pay-up-to N`: buys each that costs
 * at most N through the same escrow exchange as `udns get <file>` (buy-file.ts), one after the
 * other, printing each receipt; a dearer one is skipped, a failed purchase is reported and the
 * walk goes on (the command then exits non-zero).
 */
export function folderPurchases(options: { payUpTo?: number; env: NodeJS.ProcessEnv; member: MemberTransfers | null; context: DownloadContext }): PricedFileHandler {
  const { payUpTo, env, member, context } = options;
  let edge: EdgeTarget | null = null;
  return async (file: PricedFile) => {
    const price = file.price === undefined ? 'for sale' : `priced at ${file.price} credits`;
    const buyIt = `buy it with udns get ${file.url.href}`;
    if (payUpTo === undefined) {
      warn(`skipped ${file.label}: ${price}; ${buyIt}`);
      return 'skipped';
    }
    if (file.price !== undefined && file.price > payUpTo) {
      warn(`skipped ${file.label}: ${price}, more than --pay-up-to ${payUpTo}; ${buyIt}`);
      return 'skipped';
    }
    const receipt = purchaseFilesFor(file.target).receipt;
    if (fs.existsSync(file.target) && fs.existsSync(receipt) && !context.force) {
      context.progress.note(`${file.label} was bought before (receipt ${path.basename(receipt)}), skipped`);
      return 'skipped';
    }
    try {
      edge ??= resolveCredentials({}, env);
    } catch (error) {
      warn(`could not buy ${file.label} (${price}): buying needs a login to the share's edge, run \`udns login --server <url>\` first (${(error as Error).message})`);
      return 'failed';
    }
    try {
      const bought = await buyFile({
        url: file.url, dest: file.target, edge, env, access: context.access, progress: context.progress, retry: context.retry, member,
        payUpTo, ...(file.price === undefined ? {} : { hintedPrice: file.price }), ask: null, force: context.force,
      });
      const seq = (bought.receipt.body as { ledgerSeq?: unknown }).ledgerSeq;
      const receiptLabel = path.join(path.dirname(file.label), path.basename(bought.receiptFile));
      say(`bought ${file.label} for ${bought.sale.price} credits from ${bought.sale.seller}; receipt: ${receiptLabel} (sale ${bought.sale.id}, ledger entry ${String(seq)})`);
      return 'bought';
    } catch (error) {
      if (!isUdnsError(error)) throw error;
      warn(`could not buy ${file.label} (${price}): ${error.message}`);
      return 'failed';
    }
  };
}
