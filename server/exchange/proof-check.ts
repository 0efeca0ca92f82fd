import { verifyInclusion, leafHash } from '../../protocol/merkle.js';
import { chunkCount, openChunk } from '../../protocol/sealed-file.js';
import type { SaleProof } from '../../protocol/index.js';

/*
 * The escrow's check of a buyer's proof of misbehaviour (POST /api/v1/purchases/:id/dispute).
 *
 * The proof names chunk `index`: the sealed chunk as received with its inclusion path in the
 * cipher root the seller signed, and the listing's plaintext leaf with its path in the plain
 * root the listing (and the offer) committed to. Both paths must verify: then the chunk is the
 * seller's own (it cannot be swapped without a SHA-256 second preimage) and the leaf is the
 * listing's promise for that place. The escrow decrypts the chunk with the key K it holds:
 * the proof is upheld only when the tag fails or the plaintext's leaf hash differs from the
 * promised one. An honest seller's chunk decrypts to the promised leaf, so no proof against it
 * can be upheld; anything malformed is simply rejected, never upheld.
 */

/** What the escrow knows of the sale. */
export interface ProofContext {
  readonly saleId: string;
  readonly size: number;
  /** Hex roots: the offer's cipher root and the listing's plain root. */
  readonly cipherRoot: string;
  readonly plainRoot: string;
  /** Hex sale key K. */
  readonly sealKey: string;
}

export type ProofVerdict = { upheld: true; why: string } | { upheld: false; why: string };

/** Largest sealed chunk a proof may carry (CHUNK_BYTES + tag). */
const MAX_SEALED_CHUNK = (1 << 20) + 16;

/** Checks `proof` against the sale. Never throws: garbage is rejected with a reason. */
export function checkSaleProof(sale: ProofContext, proof: SaleProof): ProofVerdict {
  try {
    const count = chunkCount(sale.size);
    if (!Number.isSafeInteger(proof.index) || proof.index < 0 || proof.index >= count) {
      return { upheld: false, why: `chunk ${proof.index} does not exist: the file has ${count} chunk${count === 1 ? '' : 's'}` };
    }
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(proof.cipherChunk) || proof.cipherChunk.length % 4 !== 0) {
      return { upheld: false, why: 'cipherChunk is not base64' };
    }
    const chunk = Buffer.from(proof.cipherChunk, 'base64');
    if (chunk.length > MAX_SEALED_CHUNK) return { upheld: false, why: 'cipherChunk is longer than a sealed chunk' };
    const cipherPath = proof.cipherPath.map((hash) => Buffer.from(hash, 'hex'));
    const plainPath = proof.plainPath.map((hash) => Buffer.from(hash, 'hex'));
    if (!verifyInclusion(leafHash(chunk), proof.index, count, cipherPath, Buffer.from(sale.cipherRoot, 'hex'))) {
      return { upheld: false, why: `the chunk is not the seller's chunk ${proof.index}: its path does not lead to the offer's cipher root` };
    }
    const plainLeaf = Buffer.from(proof.plainLeaf, 'hex');
    if (!verifyInclusion(plainLeaf, proof.index, count, plainPath, Buffer.from(sale.plainRoot, 'hex'))) {
      return { upheld: false, why: `plainLeaf is not the listing's leaf ${proof.index}: its path does not lead to the listing's plain root` };
    }
    const plain = openChunk(Buffer.from(sale.sealKey, 'hex'), sale.saleId, proof.index, count, chunk);
    if (plain === null) return { upheld: true, why: `chunk ${proof.index} does not decrypt with the released key` };
    if (!leafHash(plain).equals(plainLeaf)) return { upheld: true, why: `chunk ${proof.index} decrypts to other content than the listing promised` };
    return { upheld: false, why: `chunk ${proof.index} decrypts to exactly what the listing promised` };
  } catch {
    return { upheld: false, why: 'the proof could not be checked' };
  }
}
