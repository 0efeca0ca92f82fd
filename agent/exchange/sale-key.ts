import { createHmac, hkdfSync } from 'node:crypto';
import type { SigningKeyPair } from '../../protocol/index.js';

/**
 * The seller's sale keys, derived instead of drawn: K = HMAC-SHA256(M, "udns-sale-key" ‖ saleId
 * ‖ path ‖ sha256), where M is derived once (HKDF-SHA256) from the member's Ed25519 private key.
 *
 * Why deterministic: after a restart of the agent, the edge asks again for the offer of a
 * reserved sale (same id); the agent must serve the very ciphertext the first offer committed
 * to, without having written K anywhere. The inputs make K unique per sale and per content (a
 * changed file gives another key), so AES-GCM's fixed per-chunk nonces never meet two
 * plaintexts under one key, and K reveals nothing of M (HMAC) to the buyer who receives it.
 */
export class SaleKeys {
  private readonly master: Buffer;

  constructor(pair: SigningKeyPair) {
    const jwk = pair.privateKey.export({ format: 'jwk' });
    if (typeof jwk.d !== 'string') throw new TypeError('the signing key has no private part');
    const seed = Buffer.from(jwk.d, 'base64url');
    this.master = Buffer.from(hkdfSync('sha256', seed, Buffer.from('udns-sale-key-salt-v1'), Buffer.from('udns-sale-key-master-v1'), 32));
    seed.fill(0);
  }

  /** The 32-byte key of sale `saleId` of the file at share path `path` with content `sha256`. */
  keyFor(saleId: string, path: string, sha256: string): Buffer {
    // NUL separates the fields: none of them can hold one (hex, and a share path never does).
    return createHmac('sha256', this.master).update(`udns-sale-key\0${saleId}\0${path}\0${sha256}`, 'utf8').digest();
  }
}
