import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { PublicKeyText, SignedStatement, UdnsError, keyIdOf, verifyReceipt } from '../../protocol/index.js';
import { say } from '../cli-output.js';
import { formatBytes } from '../download/download-progress.js';
import { sha256OfFile } from '../download/share-checksum.js';
import { printJson, withJsonFlag } from '../json-output.js';

/**
 * `udns receipt verify <file> [--edge-key <base64>]`: checks a purchase receipt offline (no
 * edge, no login): the edge's signature, the seller's on the offer, the buyer's on the
 * acceptance, and that the three agree (protocol/exchange.ts verifyReceipt). The file is what
 * `udns get` saved (`<file>.receipt.json`) or a bare receipt statement. With the bought file
 * beside it, its SHA-256 is compared with the one the seller's offer committed to.
 */
export function registerReceiptCommand(program: Command): void {
  const receipt = program.command('receipt').description('check the receipt of a purchase');
  withJsonFlag(receipt.command('verify')
    .description('check a purchase receipt offline: the edge\'s, seller\'s and buyer\'s signatures and that they agree')
    .argument('<file>', 'the receipt (`<file>.receipt.json` that `udns get` saved beside a bought file)')
    .option('--edge-key <base64>', 'the edge\'s public key to check with (GET /api/v1/ledger/key; default: the one saved in the receipt file, which only shows the receipt is self-consistent)'))
    .action(async (file: string, flags: { edgeKey?: string; json?: boolean }) => {
      const { statement, savedKey } = readReceiptFile(file);
      if (flags.edgeKey !== undefined && !PublicKeyText.safeParse(flags.edgeKey).success) {
        throw new UdnsError('bad_request', '--edge-key must be the edge\'s base64 raw 32-byte Ed25519 public key (as GET /api/v1/ledger/key answers)');
      }
      const edgeKey = flags.edgeKey ?? savedKey;
      if (edgeKey === undefined) throw new UdnsError('bad_request', `${file} does not carry the edge's key: pass --edge-key <base64> (GET /api/v1/ledger/key)`);
      const check = verifyReceipt(statement, edgeKey);
      if (!check.ok) throw new UdnsError('hash_mismatch', `${file}: the receipt does not verify: ${check.problem}`);
      const { offer, acceptance, receipt: body } = check;
      const bought = file.endsWith('.receipt.json') ? file.slice(0, -'.receipt.json'.length) : null;
      let fileCheck: 'matches' | 'differs' | 'absent' = 'absent';
      if (bought !== null && fs.existsSync(bought)) fileCheck = (await sha256OfFile(bought)) === offer.plainSha256 ? 'matches' : 'differs';
      if (flags.json) {
        printJson({ ok: fileCheck !== 'differs', edgeKeyId: keyIdOf(edgeKey), edgeKeyFrom: flags.edgeKey === undefined ? 'receipt file' : 'flag', saleId: body.saleId, ledgerSeq: body.ledgerSeq, releasedAt: body.releasedAt, offer, acceptance, file: bought === null ? null : { path: bought, sha256: fileCheck } });
      } else {
        say(`receipt OK: sale ${body.saleId}: ${acceptance.buyer} paid ${offer.price} credits to ${offer.seller} for ${offer.share}${offer.path} (${formatBytes(offer.size)}), released ${new Date(body.releasedAt).toISOString()}, ledger entry ${body.ledgerSeq}`);
        say(`signatures: offer by ${offer.seller} (key ${keyIdOf(body.sellerKey).slice(0, 16)}…), acceptance by ${acceptance.buyer} (key ${keyIdOf(body.buyerKey).slice(0, 16)}…), receipt by the edge (key ${keyIdOf(edgeKey).slice(0, 16)}…${flags.edgeKey === undefined ? ', as saved in the receipt: pin it with --edge-key' : ''})`);
        if (fileCheck === 'matches') say(`${path.basename(bought!)}: SHA-256 matches the offer (${offer.plainSha256.slice(0, 16)}…)`);
      }
      if (fileCheck === 'differs') throw new UdnsError('hash_mismatch', `${bought} is not the file this receipt is for: its SHA-256 differs from the offer's ${offer.plainSha256.slice(0, 16)}…`);
    });
}

function readReceiptFile(file: string): { statement: SignedStatement; savedKey?: string } {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UdnsError('bad_request', code === undefined ? `${file} is not JSON` : `cannot read ${file} (${code})`);
  }
  const saved = json as { receipt?: unknown; edgeKey?: unknown };
  const bare = SignedStatement.safeParse(saved?.receipt ?? json);
  if (!bare.success) throw new UdnsError('bad_request', `${file} is not a udns receipt`);
  return { statement: bare.data, ...(typeof saved.edgeKey === 'string' ? { savedKey: saved.edgeKey } : {}) };
}
