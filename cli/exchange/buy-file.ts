import fs from 'node:fs';
import path from 'node:path';
import {
  SHARE_QUERY,
  UdnsError,
  isUdnsError,
  signStatement,
  verifyReceipt,
  type AcceptAnswer,
  type AcceptanceBody,
  type OfferBody,
  type SaleView,
  type SignedStatement,
} from '../../protocol/index.js';
import { keyHash } from '../../protocol/sealed-file.js';
import type { EdgeTarget } from '../client-config.js';
import type { DownloadProgress } from '../download/download-progress.js';
import { withRetries, type RetryPolicy } from '../download/download-retry.js';
import type { MemberTransfers } from '../download/member-transfer.js';
import { checkShareStatus, connectionError, requestShare, type ShareAccess } from '../download/share-http.js';
import { ensureSigningKey } from '../signing-key.js';
import { checkManifest, checkOffer } from './offer-check.js';
import { askToPay, consentMissing, quotePrice, type PriceQuote } from './price-quote.js';
import { purchases } from './purchase-client.js';
import { newIdempotencyKey, purchaseFilesFor, readSaleFile, removeWorkFiles, writeSaleFile, writeWhole, type PurchaseFiles, type SaleFile } from './sale-file.js';
import { downloadSealed } from './sealed-download.js';
import { unsealFile } from './unseal.js';

/** What `udns get` hands the purchase of one paid file. */
export interface BuyRequest {
  /** The file's URL (no query). */
  url: URL;
  /** Where the file goes. */
  dest: string;
  edge: EdgeTarget;
  env: NodeJS.ProcessEnv;
  access: ShareAccess;
  progress: DownloadProgress;
  retry: RetryPolicy;
  /** The member's transfer paths (direct, push, relay); null: relay only. */
  member: MemberTransfers | null;
  /** `--pay-up-to N`: pay at most N without asking. */
  payUpTo?: number;
  /** The price the share's 402 named, if it did. */
  hintedPrice?: number;
  /** Ask on the terminal (null when stdin is not one). */
  ask: ((question: string) => Promise<boolean>) | null;
  /** `--force`: replace an existing file at `dest`. */
  force: boolean;
}

/** A finished purchase: the file is at `file`, its receipt beside it. */
export interface BoughtFile {
  file: string;
  receiptFile: string;
  size: number;
  sha256: string;
  sale: SaleView;
  receipt: SignedStatement;
  /** The edge's key the receipt verified with. */
  edgeKey: string;
  via: readonly string[];
  resumedFrom: number;
}

/** What `<dest>.receipt.json` holds: everything `udns receipt verify` needs, offline. */
export interface ReceiptFile {
  v: 1;
  receipt: SignedStatement;
  /** The edge's public key (base64) when the receipt was saved; `--edge-key` pins another. */
  edgeKey: string;
  file: string;
  sha256: string;
  url: string;
}

/**
 * Buys a paid file through the edge's escrow, the whole fair exchange (docs/exchange.md):
 * consent, purchase (idempotent, resumable), the seller's signed offer and manifest checked,
 * the sealed file downloaded with every chunk checked (a bad one cancels: nothing paid), a
 * signed acceptance (the key and the receipt come back), decryption checked chunk by chunk
 * against the listing (a bad one is proven to the escrow: refunded), then the file in place.
 */
export async function buyFile(request: BuyRequest): Promise<BoughtFile> {
  const files = purchaseFilesFor(request.dest);
  const { url, edge, progress } = request;
  const label = path.basename(request.dest);
  if (fs.existsSync(request.dest) && !request.force) {
    throw new UdnsError('bad_request', `${request.dest} already exists: pass --force to replace it, or -o <file> to buy into another file`);
  }
  const origin = new URL(edge.server).origin;
  const { pair } = await ensureSigningKey(request.env, edge);

  let sale = await resumeOrStart(request, files, origin);
  writeSaleFile(files, { ...readSaleFile(files, url.href, origin)!, saleId: sale.id });

  while (sale.state === 'offering') {
    progress.note(`waiting for ${sale.seller}'s agent to seal ${label} for sale ${sale.id.slice(0, 8)}…`);
    sale = await purchases.waitWhile(edge, sale.id, 'offering');
  }
  if (sale.state === 'failed' || sale.state === 'refunded') {
    removeWorkFiles(files);
    throw new UdnsError('sale_state', `the sale of ${label} ended before anything was paid (${sale.state}: ${sale.reason ?? 'no reason given'}); run the command again to try once more`);
  }
  if (sale.state === 'settled') {
    removeWorkFiles(files);
    throw new UdnsError('sale_state', `sale ${sale.id} of ${label} is settled already: the seller no longer serves its sealed copy, and its receipt was saved when it was bought`);
  }

  // reserved (or released: a rerun after the acceptance): check what the seller committed to.
  let offer: OfferBody;
  let manifest: { cipherLeaves: Buffer[]; plainLeaves: Buffer[] };
  const saleUrl = new URL(url);
  saleUrl.search = '';
  saleUrl.searchParams.set(SHARE_QUERY.sale, sale.id);
  try {
    offer = checkOffer(sale, await purchases.keysOf(edge, sale.seller));
    manifest = checkManifest(await savedOrFetchedManifest(files, saleUrl, request), offer);
  } catch (error) {
    if (!isUdnsError(error, 'protocol_violation')) throw error;
    throw await cancelled(request, files, sale, error.message);
  }

  const transport = request.member?.forFile(saleUrl, purchases.transferPath(sale.id));
  let resumedFrom: number;
  try {
    ({ resumedFrom } = await downloadSealed({
      url: saleUrl, part: files.sealed, size: offer.size, cipherLeaves: manifest.cipherLeaves,
      access: transport === undefined ? request.access : { ...request.access, transport },
      progress, retry: request.retry, label: `${label} (sealed)`,
    }));
  } catch (error) {
    if (!isUdnsError(error, 'hash_mismatch') || sale.state !== 'reserved') throw error;
    throw await cancelled(request, files, sale, error.message);
  } finally {
    transport?.close();
  }

  // Every sealed chunk matched leaves that hash to the offer's cipher root: accept that root.
  const acceptance: AcceptanceBody = {
    v: 1, saleId: sale.id, buyer: sale.buyer, cipherRoot: offer.cipherRoot, offerSignature: sale.offer!.signature, acceptedAt: Date.now(),
  };
  const answer: AcceptAnswer = await purchases.accept(edge, sale.id, signStatement('acceptance', acceptance, pair));
  const key = Buffer.from(answer.key, 'hex');
  if (keyHash(key) !== offer.keyHash) {
    throw new UdnsError('protocol_violation', `the edge released a key for sale ${sale.id} that is not the one the seller committed to: nothing decrypted; keep ${files.sale} and report it to the operator`);
  }
  sale = answer.sale;

  const unsealed = await unsealFile({
    sealed: files.sealed, plain: files.plain, key, saleId: sale.id, size: offer.size, plainSha256: offer.plainSha256,
    cipherLeaves: manifest.cipherLeaves, plainLeaves: manifest.plainLeaves, progress, label,
  });
  if (!unsealed.ok) {
    if (unsealed.index === null) {
      // Paid for and matching every chunk the listing committed to (what the escrow enforces):
      // kept, with the sale file, rather than thrown away with no refund possible.
      throw new UdnsError('hash_mismatch', `${label} matches the listing's chunk hashes but not its SHA-256 (${unsealed.sha256.slice(0, 16)}…): the listing contradicts itself and no chunk proves it; sale ${sale.id} stays paid and the decrypted file is kept as ${files.plain}: report it to the operator`);
    }
    progress.note(`chunk ${unsealed.index} of ${label} ${unsealed.why}: proving it to the escrow`);
    const disputed = await purchases.dispute(edge, sale.id, unsealed.proof);
    removeWorkFiles(files);
    throw new UdnsError('hash_mismatch', `${label} is not the file ${sale.seller} listed (chunk ${unsealed.index} ${unsealed.why}): the escrow upheld the proof, sale ${sale.id} is ${disputed.state} and your ${sale.price} credits are back; nothing was kept`);
  }

  const edgeKey = (await purchases.edgeKey(edge)).publicKey;
  const check = verifyReceipt(answer.receipt, edgeKey);
  if (!check.ok) throw new UdnsError('protocol_violation', `the edge's receipt for sale ${sale.id} does not verify (${check.problem}); the file is in ${files.plain}`);
  const receiptFile: ReceiptFile = { v: 1, receipt: answer.receipt, edgeKey, file: path.basename(request.dest), sha256: unsealed.sha256, url: url.href };
  fs.writeFileSync(files.receipt, `${JSON.stringify(receiptFile, null, 2)}\n`);
  fs.renameSync(files.plain, request.dest);
  removeWorkFiles(files);
  return {
    file: request.dest, receiptFile: files.receipt, size: offer.size, sha256: unsealed.sha256, sale, receipt: answer.receipt, edgeKey,
    via: transport?.taken ?? ['relay'], resumedFrom,
  };
}

/**
 * The sale of an earlier run of the same command (same idempotency key: the edge answers the
 * same sale), unless it ended without the file; else a new purchase, after the buyer's consent.
 */
async function resumeOrStart(request: BuyRequest, files: PurchaseFiles, origin: string): Promise<SaleView> {
  const saved = readSaleFile(files, request.url.href, origin);
  if (saved !== null) {
    const sale = await purchases.request(request.edge, { url: request.url.href, maxPrice: saved.maxPrice, idempotencyKey: saved.idempotencyKey });
    if (sale.state !== 'failed' && sale.state !== 'refunded') {
      request.progress.note(`resuming sale ${sale.id.slice(0, 8)}… (${sale.state}) of ${sale.price} credits to ${sale.seller}`);
      return sale;
    }
    request.progress.note(`the earlier sale ${sale.id.slice(0, 8)}… ended (${sale.state}: ${sale.reason ?? '?'}); buying anew`);
    removeWorkFiles(files);
  }
  const quote = await quotePrice(request.url, request.access, request.edge, request.hintedPrice);
  const maxPrice = await consent(request, quote);
  fs.mkdirSync(path.dirname(files.dest), { recursive: true });
  const entry: SaleFile = { v: 1, url: request.url.href, edge: origin, idempotencyKey: newIdempotencyKey(), maxPrice };
  // On disk before the request: a crash while it is in flight resumes this very sale.
  writeSaleFile(files, entry);
  try {
    return await purchases.request(request.edge, { url: request.url.href, maxPrice, idempotencyKey: entry.idempotencyKey });
  } catch (error) {
    // Refused (too expensive, no credits…): no sale exists, nothing to resume.
    if (isUdnsError(error) && error.code !== 'server_unreachable' && error.code !== 'rate_limited') removeWorkFiles(files);
    throw error;
  }
}

/** The most the buyer agrees to pay: `--pay-up-to`, or a yes on the terminal. */
async function consent(request: BuyRequest, quote: PriceQuote): Promise<number> {
  const file = path.basename(request.dest);
  if (request.payUpTo !== undefined) {
    if (quote.price !== undefined && quote.price > request.payUpTo) {
      throw new UdnsError('price_too_high', `${file} costs ${quote.price} credits, more than --pay-up-to ${request.payUpTo}: nothing was bought`);
    }
    return request.payUpTo;
  }
  if (request.ask === null || quote.price === undefined) throw consentMissing(file, quote);
  const trust = quote.trust === undefined ? '' : quote.trust.score === null ? ' (not rated yet)' : ` (trust ${quote.trust.score}/5 from ${quote.trust.ratings} ${quote.trust.ratings === 1 ? 'rating' : 'ratings'}${quote.trust.disputesLost > 0 ? `, ${quote.trust.disputesLost} disputes lost` : ''})`;
  const seller = quote.seller === undefined ? `the owner of ${request.url.host}` : `${quote.seller}${trust}`;
  if (!await request.ask(`Pay ${quote.price} credits to ${seller} for ${file}?`)) {
    throw new UdnsError('payment_required', `not bought: ${file} costs ${quote.price} credits (pass --pay-up-to ${quote.price} to buy without being asked)`);
  }
  return quote.price;
}

/**
 * The manifest saved by an earlier run of this sale, else fetched and saved. After the key's
 * release the seller's agent may have forgotten the sale (a restart): without the manifest the
 * buyer could neither decrypt-and-check nor prove a bad chunk before the dispute window closes.
 * A saved copy is checked against the signed offer like a fetched one.
 */
async function savedOrFetchedManifest(files: PurchaseFiles, saleUrl: URL, request: BuyRequest): Promise<Buffer> {
  try {
    return fs.readFileSync(files.manifest);
  } catch {
    const fetched = await fetchManifest(saleUrl, request);
    writeWhole(files.manifest, fetched);
    return fetched;
  }
}

/** The manifest (`?sale=<id>&manifest=1`), through the edge like any small request. */
async function fetchManifest(saleUrl: URL, request: BuyRequest): Promise<Buffer> {
  const url = new URL(saleUrl);
  url.searchParams.set(SHARE_QUERY.manifest, '1');
  return withRetries(request.retry, (line) => request.progress.note(line), async () => {
    const res = await requestShare(url, request.access);
    await checkShareStatus(res, url, request.access);
    if (res.statusCode !== 200) {
      res.resume();
      throw new UdnsError('protocol_violation', `${url.host} answered ${res.statusCode} for the sale's manifest`);
    }
    // A manifest is 4 + 64 bytes per MiB of file: 64 MiB covers a 1 TiB file.
    return readBinaryBody(res, url, 64 * 1024 * 1024);
  });
}

/** A binary body up to `maxBytes`. */
async function readBinaryBody(res: AsyncIterable<unknown>, url: URL, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) throw new UdnsError('protocol_violation', `${url.host} sent a manifest larger than ${maxBytes} bytes`);
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    throw connectionError(url, error);
  }
  return Buffer.concat(chunks);
}

/** Cancels a reserved sale (the credits go back), removes its files, and says why in one line. */
async function cancelled(request: BuyRequest, files: PurchaseFiles, sale: SaleView, why: string): Promise<UdnsError> {
  let outcome: string;
  try {
    const after = await purchases.cancel(request.edge, sale.id);
    outcome = after.state === 'refunded' ? `cancelled sale ${sale.id}, your ${sale.price} credits are back` : `sale ${sale.id} is ${after.state}`;
  } catch (error) {
    outcome = `cancelling sale ${sale.id} failed (${(error as Error).message}): the edge refunds it at its deadline`;
  }
  removeWorkFiles(files);
  return new UdnsError('hash_mismatch', `${why}: refused, nothing paid (${outcome}); nothing was kept`);
}
