import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { SaleProof } from '../../protocol/index.js';
import { inclusionProof, leafHash } from '../../protocol/merkle.js';
import { chunkCount, openChunk, sealedChunkLength } from '../../protocol/sealed-file.js';
import type { DownloadProgress } from '../download/download-progress.js';

/** What {@link unsealFile} needs: the sealed file on disk, the released key and the manifest. */
export interface UnsealJob {
  sealed: string;
  /** Where the plaintext goes (`<dest>.part`). */
  plain: string;
  key: Buffer;
  saleId: string;
  size: number;
  /** The listing's SHA-256 of the whole plaintext. */
  plainSha256: string;
  cipherLeaves: readonly Buffer[];
  plainLeaves: readonly Buffer[];
  progress: DownloadProgress;
  label: string;
}

/** The plaintext checked out, or the first chunk that did not, with the proof of it. */
export type UnsealResult =
  | { ok: true; sha256: string }
  | { ok: false; index: number; why: 'does not decrypt' | 'is not the listed content'; proof: SaleProof }
  | { ok: false; index: null; why: 'whole file SHA-256 differs'; sha256: string };

/**
 * Decrypts the sealed file chunk by chunk with the released key, checking each plaintext chunk
 * against the listing's leaf hash (from the manifest, whose plain leaves hash to the listing's
 * root) and the whole against the listing's SHA-256. The first chunk that fails to decrypt or
 * decrypts to other content stops it, with a SaleProof the escrow can check on its own: the
 * sealed chunk as received, its inclusion path in the cipher root, the promised leaf and its
 * path in the plain root. The plaintext part is removed then: nothing of a bad sale is kept.
 */
export async function unsealFile(job: UnsealJob): Promise<UnsealResult> {
  const count = chunkCount(job.size);
  const whole = createHash('sha256');
  const input = await fs.promises.open(job.sealed, 'r');
  const output = await fs.promises.open(job.plain, 'w', 0o600);
  let done = 0;
  let failed = true;
  try {
    job.progress.start(job.label, job.size, 0);
    let position = 0;
    for (let index = 0; index < count; index++) {
      const length = sealedChunkLength(job.size, index);
      const sealed = Buffer.alloc(length);
      let read = 0;
      while (read < length) {
        const { bytesRead } = await input.read(sealed, read, length - read, position + read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
      position += length;
      const plain = read === length ? openChunk(job.key, job.saleId, index, count, sealed) : null;
      if (plain === null || !leafHash(plain).equals(job.plainLeaves[index]!)) {
        return { ok: false, index, why: plain === null ? 'does not decrypt' : 'is not the listed content', proof: proofOf(job, index, sealed.subarray(0, read)) };
      }
      whole.update(plain);
      let written = 0;
      while (written < plain.length) written += (await output.write(plain, written, plain.length - written, done + written)).bytesWritten;
      done += plain.length;
      job.progress.update(done);
    }
    const sha256 = whole.digest('hex');
    // Every chunk matched the plain root, yet the whole differs: the listing's two commitments
    // disagree (its SHA-256 is not of the content its root covers). No chunk proves it.
    if (sha256 !== job.plainSha256) return { ok: false, index: null, why: 'whole file SHA-256 differs', sha256 };
    await output.sync();
    job.progress.finish(done);
    failed = false;
    return { ok: true, sha256 };
  } finally {
    await output.close().catch(() => undefined);
    await input.close().catch(() => undefined);
    job.progress.stop();
    if (failed) fs.rmSync(job.plain, { force: true });
  }
}

/** The escrow's evidence that chunk `index` is not what the listing promised. */
export function proofOf(manifest: { cipherLeaves: readonly Buffer[]; plainLeaves: readonly Buffer[] }, index: number, sealedChunk: Buffer): SaleProof {
  const hex = (paths: Buffer[]): string[] => paths.map((node) => node.toString('hex'));
  return {
    index,
    cipherChunk: sealedChunk.toString('base64'),
    cipherPath: hex(inclusionProof(manifest.cipherLeaves, index)),
    plainLeaf: manifest.plainLeaves[index]!.toString('hex'),
    plainPath: hex(inclusionProof(manifest.plainLeaves, index)),
  };
}
