import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { z } from 'zod';
import { IdempotencyKey, SaleId } from '../../protocol/index.js';

/*
 * The files of one purchase beside its destination `<dest>`:
 *
 *   <dest>.udns-sale.json   which sale this is: the purchase's idempotency key, written before
 *                           the request, so a rerun after any crash asks for the same sale
 *                           (the edge answers the existing one) instead of buying twice
 *   <dest>.sealed.part      the sealed file as received (resumable; checked chunk by chunk)
 *   <dest>.part             the plaintext being decrypted
 *   <dest>.receipt.json     the edge's receipt, kept with the file
 *
 * All but the receipt and `<dest>` go once the purchase is over, whichever way it ended.
 */

export const SaleFile = z.object({
  v: z.literal(1),
  /** The file's URL as bought. */
  url: z.string(),
  /** The edge the sale is at (origin). */
  edge: z.string(),
  idempotencyKey: IdempotencyKey,
  /** Known once the edge answered. */
  saleId: SaleId.optional(),
  /** What the buyer agreed to pay at most. */
  maxPrice: z.number().int().positive(),
}).strict();
export type SaleFile = z.infer<typeof SaleFile>;

/** The paths of one purchase's files. */
export interface PurchaseFiles {
  readonly dest: string;
  readonly sale: string;
  readonly sealed: string;
  readonly plain: string;
  readonly receipt: string;
  /** The sale's manifest as fetched and checked: a rerun after the acceptance needs no seller. */
  readonly manifest: string;
}

export function purchaseFilesFor(dest: string): PurchaseFiles {
  return { dest, sale: `${dest}.udns-sale.json`, sealed: `${dest}.sealed.part`, plain: `${dest}.part`, receipt: `${dest}.receipt.json`, manifest: `${dest}.sealed.manifest` };
}

/** A fresh idempotency key for a new purchase (random: one per purchase, never reused). */
export function newIdempotencyKey(): string {
  return `get-${randomBytes(16).toString('hex')}`;
}

/** The saved sale of an earlier run, or null (none, unreadable, or of another URL or edge). */
export function readSaleFile(files: PurchaseFiles, url: string, edge: string): SaleFile | null {
  try {
    const parsed = SaleFile.safeParse(JSON.parse(fs.readFileSync(files.sale, 'utf8')));
    if (!parsed.success || parsed.data.url !== url || parsed.data.edge !== edge) return null;
    return parsed.data;
  } catch {
    return null;
  }
}

/** Saves it through a temp file and fsync: it must be on disk before the request it guards. */
export function writeSaleFile(files: PurchaseFiles, sale: SaleFile): void {
  const tmp = `${files.sale}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, `${JSON.stringify(sale, null, 2)}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, files.sale);
}

/** Writes a file whole or not at all (temp file, fsync, rename). */
export function writeWhole(file: string, bytes: Buffer): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, bytes);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** Removes everything of the purchase but the receipt and the file itself. */
export function removeWorkFiles(files: PurchaseFiles): void {
  for (const file of [files.sale, files.sealed, files.manifest, files.plain]) fs.rmSync(file, { force: true });
}
