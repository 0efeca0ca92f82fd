import {
  OfferBody,
  UdnsError,
  verifyStatement,
  type KeyView,
  type SaleView,
} from '../../protocol/index.js';
import { merkleRoot } from '../../protocol/merkle.js';
import { CHUNK_BYTES, chunkCount, decodeManifest } from '../../protocol/sealed-file.js';

/*
 * What the buyer checks before it downloads a byte of the sealed file, each against something
 * the seller cannot change afterwards: the offer against the seller's registered key and the
 * listing (the sale as the edge recorded it from the index), the manifest against the offer's
 * two roots. A failure here costs nothing: the buyer cancels and the reserved credits go back.
 */

/** The seller's signed offer of `sale`, checked; its body. @throws UdnsError `protocol_violation` naming what is wrong */
export function checkOffer(sale: SaleView, sellerKeys: readonly KeyView[]): OfferBody {
  const bad = (what: string): UdnsError => new UdnsError('protocol_violation', `the seller's offer for sale ${sale.id} ${what}`);
  const offer = sale.offer;
  if (offer === null) throw bad('is missing although the sale is reserved');
  const key = sellerKeys.find((candidate) => candidate.keyId === offer.keyId && candidate.account === sale.seller);
  if (key === undefined) throw bad(`is signed with a key ${sale.seller} never registered`);
  if (key.revokedAt !== null) throw bad(`is signed with a key ${sale.seller} revoked`);
  if (!verifyStatement(offer, 'offer', key.publicKey)) throw bad('has a signature that does not verify with the seller\'s key');
  const parsed = OfferBody.safeParse(offer.body);
  if (!parsed.success) throw bad('is not a udns offer');
  const body = parsed.data;
  const expected: Array<[keyof OfferBody, unknown]> = [
    ['saleId', sale.id], ['seller', sale.seller], ['buyer', sale.buyer], ['share', sale.share], ['path', sale.path],
    ['size', sale.size], ['price', sale.price], ['plainSha256', sale.plainSha256], ['plainRoot', sale.plainRoot], ['chunkBytes', CHUNK_BYTES],
  ];
  for (const [field, value] of expected) {
    if (body[field] !== value) throw bad(`says ${field} ${String(body[field]).slice(0, 80)}, the listing ${String(value).slice(0, 80)}`);
  }
  return body;
}

/** The manifest's leaves, checked against the offer's roots and the file's chunk count. @throws UdnsError `protocol_violation` */
export function checkManifest(bytes: Buffer, offer: OfferBody): { cipherLeaves: Buffer[]; plainLeaves: Buffer[] } {
  const bad = (what: string): UdnsError => new UdnsError('protocol_violation', `the seller's manifest for sale ${offer.saleId} ${what}`);
  const manifest = decodeManifest(bytes);
  if (manifest === null) throw bad('is malformed');
  const count = chunkCount(offer.size);
  if (manifest.cipherLeaves.length !== count || manifest.plainLeaves.length !== count) throw bad(`has ${manifest.cipherLeaves.length} chunks, the file ${count}`);
  if (merkleRoot(manifest.cipherLeaves).toString('hex') !== offer.cipherRoot) throw bad('does not hash to the offer\'s cipher root');
  if (merkleRoot(manifest.plainLeaves).toString('hex') !== offer.plainRoot) throw bad('does not hash to the listing\'s plain root');
  return manifest;
}
