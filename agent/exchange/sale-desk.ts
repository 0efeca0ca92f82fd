import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import {
  signStatement,
  type OfferBody,
  type SaleDeclineReason,
  type SaleDeclined,
  type SaleOffered,
  type SaleRequested,
  type SigningKeyPair,
} from '../../protocol/index.js';
import { CHUNK_BYTES, commitSealed, encodeManifest, keyHash } from '../../protocol/sealed-file.js';
import type { AgentLogger } from '../agent-logger.js';
import { resolveExisting, type SharePolicy } from '../share/share-paths.js';
import { priceOfFile, type PriceList } from './price-list.js';
import { SaleKeys } from './sale-key.js';

/** Sales waiting for their sealing pass behind the one running, per share: more are declined `busy`. */
export const MAX_QUEUED_SEALINGS = 16;
/** Offered sales a share remembers (about 64 KiB of leaves per GiB of file each): the oldest goes first. */
export const MAX_REMEMBERED_SALES = 1000;
/** A sale the edge never closes is forgotten after this long (the edge's longest wait: sale timeout plus slack). */
export const SALE_MEMORY_MS = 24 * 60 * 60_000;

/** What a share keeps of a sale it offered: enough to serve the sealed file and its manifest. */
export interface OfferedSale {
  readonly saleId: string;
  /** Share path (`/talks/a.pdf`). */
  readonly path: string;
  /** The file read when serving (symlinks resolved). */
  readonly real: string;
  readonly size: number;
  /** The file's version when sealed: a changed file is not served under this sale. */
  readonly version: { readonly dev: number; readonly ino: number; readonly size: number; readonly mtimeMs: number };
  readonly key: Buffer;
  readonly cipherRoot: string;
  /** encodeManifest(cipher leaves, plain leaves). */
  readonly manifest: Buffer;
  /** The answer sent, repeated when the edge asks again for the same sale. */
  readonly answer: SaleOffered;
  readonly forgetAt: number;
}

/** Who is selling, filled in by the tunnel that carried the request. */
export interface SaleContext {
  /** The seller's account name (the tunnel's welcome). */
  readonly seller: string;
  /** The share's name label, as the edge lists it. */
  readonly share: string;
}

export interface SaleDeskOptions {
  readonly policy: SharePolicy;
  /** The share's prices now (they can change while it runs). */
  readonly prices: () => PriceList | null;
  /** The SHA-256 and Merkle root of a file version (the listed share's cache; computed when missing). */
  readonly commitment: (real: string, stats: Stats) => Promise<{ sha256: string; merkleRoot: string }>;
  /** The member's signing key; null: every sale is declined `no signing key`. */
  readonly signingKey: SigningKeyPair | null;
  readonly logger: AgentLogger;
  readonly now?: () => number;
  readonly maxQueued?: number;
  readonly maxSales?: number;
}

/**
 * The seller's side of a sale, for one share (docs/exchange.md, step 2). For each
 * `saleRequested` it checks that the file is still what the buyer was shown (price, size,
 * plaintext root), derives the sale key K (sale-key.ts), seals the file once to learn the
 * cipher leaves (commitSealed, nothing written), signs the offer with the member's key and
 * answers `saleOffered` with K; or `saleDeclined` with the reason. Offered sales are remembered
 * (bounded, a day at most, or until `saleClosed`) so `?sale=<id>` can serve the sealed file.
 *
 * One sealing pass at a time per share, the others queued (at most MAX_QUEUED_SEALINGS, then
 * `busy`): a burst of buyers costs the PC one file read at a time, not a read per buyer.
 */
export class SaleDesk {
  private readonly sales = new Map<string, OfferedSale>();
  /** Requests being worked on or queued, by sale id: a repeated request joins the first. */
  private readonly inFlight = new Map<string, Promise<SaleOffered | SaleDeclined>>();
  private queue: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private readonly keys: SaleKeys | null;
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly options: SaleDeskOptions) {
    this.keys = options.signingKey === null ? null : new SaleKeys(options.signingKey);
    this.now = options.now ?? Date.now;
  }

  /** The answer to a `saleRequested`: never throws (a failure is a decline). */
  request(message: SaleRequested, context: SaleContext): Promise<SaleOffered | SaleDeclined> {
    const known = this.sale(message.saleId);
    if (known !== null && known.path === message.path) return Promise.resolve(known.answer);
    const running = this.inFlight.get(message.saleId);
    if (running !== undefined) return running;
    if (this.keys === null || this.options.signingKey === null) return Promise.resolve(this.decline(message, 'no signing key'));
    if (this.closed) return Promise.resolve(this.decline(message, 'not for sale'));
    if (this.queued >= (this.options.maxQueued ?? MAX_QUEUED_SEALINGS) + 1) return Promise.resolve(this.decline(message, 'busy'));
    this.queued++;
    const answer = this.queue.then(() => this.offer(message, context)).catch((error: unknown) => {
      this.options.logger.warn({ err: error, sale: message.saleId }, 'sealing a sold file failed');
      return this.decline(message, 'unreadable');
    }).finally(() => {
      this.queued--;
      this.inFlight.delete(message.saleId);
    });
    this.queue = answer;
    this.inFlight.set(message.saleId, answer);
    return answer;
  }

  /** An offered sale still remembered, or null. */
  sale(saleId: string): OfferedSale | null {
    const sale = this.sales.get(saleId);
    if (sale === undefined) return null;
    if (sale.forgetAt <= this.now()) {
      this.sales.delete(saleId);
      return null;
    }
    return sale;
  }

  /** `saleClosed`: the sale ended; its sealed file is not served any more. */
  forget(saleId: string): void {
    this.sales.delete(saleId);
  }

  get size(): number {
    return this.sales.size;
  }

  close(): void {
    this.closed = true;
    this.sales.clear();
  }

  private async offer(message: SaleRequested, context: SaleContext): Promise<SaleOffered | SaleDeclined> {
    const log = this.options.logger.child({ sale: message.saleId.slice(0, 8), path: message.path });
    if (this.closed) return this.decline(message, 'not for sale');
    const segments = message.path.slice(1).split('/');
    if (!this.options.policy.showHidden && segments.some((segment) => segment.startsWith('.'))) return this.decline(message, 'not for sale');
    const found = await resolveExisting(this.options.policy, segments);
    if (found === null || !found.stats.isFile()) return this.decline(message, 'not for sale');
    const price = priceOfFile(this.options.prices(), message.path, found.real, this.options.policy.root);
    if (price === null) return this.decline(message, 'not for sale');
    if (price !== message.price || found.stats.size !== message.size) return this.decline(message, 'changed');
    let committed: { sha256: string; merkleRoot: string };
    try {
      committed = await this.options.commitment(found.real, found.stats);
    } catch (error) {
      log.debug({ err: error }, 'cannot read a sold file');
      return this.decline(message, 'unreadable');
    }
    if (committed.merkleRoot !== message.plainRoot) return this.decline(message, 'changed');
    const key = this.keys!.keyFor(message.saleId, message.path, committed.sha256);
    const started = this.now();
    const sealed = await commitSealed(found.real, key, message.saleId);
    const after = await fs.stat(found.real);
    // Read again while sealing: what was sealed must be what the listing promised.
    if (sealed.plainRoot !== message.plainRoot || sealed.sha256 !== committed.sha256 || !sameVersion(found.stats, after)) {
      return this.decline(message, 'changed');
    }
    const body: OfferBody = {
      v: 1,
      saleId: message.saleId,
      seller: context.seller,
      buyer: message.buyer,
      share: context.share,
      path: message.path,
      size: sealed.size,
      price,
      chunkBytes: CHUNK_BYTES,
      plainSha256: sealed.sha256,
      plainRoot: sealed.plainRoot,
      cipherRoot: sealed.cipherRoot,
      keyHash: keyHash(key),
      offeredAt: this.now(),
    };
    const answer: SaleOffered = {
      type: 'saleOffered',
      saleId: message.saleId,
      offer: signStatement('offer', body, this.options.signingKey!),
      key: key.toString('hex'),
    };
    this.remember({
      saleId: message.saleId, path: message.path, real: found.real, size: sealed.size,
      version: { dev: after.dev, ino: after.ino, size: after.size, mtimeMs: after.mtimeMs },
      key, cipherRoot: sealed.cipherRoot, manifest: encodeManifest(sealed.cipherLeaves, sealed.plainLeaves),
      answer, forgetAt: this.now() + SALE_MEMORY_MS,
    });
    log.info({ price, bytes: sealed.size, ms: this.now() - started, buyer: message.buyer }, 'sale offered');
    return answer;
  }

  private remember(sale: OfferedSale): void {
    if (this.closed) return;
    this.sales.delete(sale.saleId);
    const max = this.options.maxSales ?? MAX_REMEMBERED_SALES;
    while (this.sales.size >= max) this.sales.delete(this.sales.keys().next().value!);
    this.sales.set(sale.saleId, sale);
  }

  private decline(message: SaleRequested, reason: SaleDeclineReason): SaleDeclined {
    this.options.logger.info({ sale: message.saleId.slice(0, 8), path: message.path, reason }, 'sale declined');
    return { type: 'saleDeclined', saleId: message.saleId, reason };
  }
}

/** True when a file is still the version it was (same device, inode, size and mtime). */
export function sameVersion(a: { dev: number; ino: number; size: number; mtimeMs: number }, b: { dev: number; ino: number; size: number; mtimeMs: number }): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}
