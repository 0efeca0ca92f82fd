// Test support: a seller's agent reduced to the control protocol (HostileMuxAgent): it registers
// a share, lists one priced file and answers every saleRequested with a signed offer, the way
// agent/exchange/ does, but without serving the sealed file. For escrow tests that drive the
// edge itself (crash points, API refusals) without a real agent.
import { randomBytes } from 'node:crypto';
import {
  INDEX_BUCKETS,
  bucketDigestsHex,
  bucketOf,
  entryDigest,
  signStatement,
  type IndexEntry,
  type OfferBody,
  type SigningKeyPair,
} from '../../protocol/index.js';
import { CHUNK_BYTES, commitSealed, keyHash } from '../../protocol/sealed-file.js';
import { HostileMuxAgent } from './hostile-agent.js';

/** What the seller sells: one file of its share, as listed. */
export interface SellerListing {
  readonly share: string;
  readonly seller: string;
  /** The file on disk and its index entry (with price, sha256, merkleRoot). */
  readonly file: string;
  readonly entry: IndexEntry;
  /** Seal this file instead of `file` while claiming `file`'s commitment (a lying seller). */
  readonly sealInstead?: string;
}

export class TestSeller {
  /** Per sale: the key and cipher leaves sealed (the buyer of a lying seller builds its proof from them). */
  static readonly sealed = new Map<string, { key: Buffer; cipherLeaves: Buffer[] }>();
  private readonly answered = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  /** Hold offers back (a slow agent) until set to false. */
  hold = false;

  private constructor(readonly agent: HostileMuxAgent, readonly routeId: string, private readonly key: SigningKeyPair, private readonly listing: SellerListing) {
    this.timer = setInterval(() => this.answer(), 20);
  }

  /** Connects with `token`, registers the share's name and lists its one file (acknowledged). */
  static async connect(serverUrl: string, token: string, key: SigningKeyPair, listing: SellerListing): Promise<TestSeller> {
    const agent = await HostileMuxAgent.connect(serverUrl, token);
    await agent.hello();
    const registered = await agent.register(1, listing.share);
    if (registered.type !== 'routeRegistered') throw new Error(`route refused: ${JSON.stringify(registered)}`);
    const routeId = String(registered.routeId);
    const digests = new Uint32Array(INDEX_BUCKETS);
    digests[bucketOf(listing.entry.path)] = entryDigest(listing.entry) >>> 0;
    agent.send({ type: 'listShare', requestId: 2, routeId, locked: false, summary: { entries: 1, digests: bucketDigestsHex(digests) } });
    const wanted = await agent.waitFor('indexWanted');
    agent.send({ type: 'indexBatch', routeId, seq: 0, reset: wanted.buckets, upserts: (wanted.buckets as number[]).length > 0 ? [listing.entry] : [], removes: [] });
    await agent.waitFor('indexAck', (m) => m.seq === 0);
    return new TestSeller(agent, routeId, key, listing);
  }

  private answer(): void {
    if (this.hold) return;
    for (const message of this.agent.messages) {
      if (message.type !== 'saleRequested' || this.answered.has(String(message.saleId))) continue;
      const saleId = String(message.saleId);
      this.answered.add(saleId);
      void this.offer(saleId, String(message.buyer)).catch(() => undefined);
    }
  }

  private async offer(saleId: string, buyer: string): Promise<void> {
    // The same K for the same sale, as the real agent derives it: a re-sent request gets the same offer.
    const key = TestSeller.sealed.get(saleId)?.key ?? randomBytes(32);
    const sealed = await commitSealed(this.listing.sealInstead ?? this.listing.file, key, saleId);
    TestSeller.sealed.set(saleId, { key, cipherLeaves: sealed.cipherLeaves });
    const { entry } = this.listing;
    const body: OfferBody = {
      v: 1, saleId, seller: this.listing.seller, buyer, share: this.listing.share, path: entry.path, size: entry.size, price: entry.price!,
      chunkBytes: CHUNK_BYTES, plainSha256: entry.sha256!, plainRoot: entry.merkleRoot!, cipherRoot: sealed.cipherRoot, keyHash: keyHash(key), offeredAt: Date.now(),
    };
    this.agent.send({ type: 'saleOffered', saleId, offer: signStatement('offer', body, this.key), key: key.toString('hex') });
  }

  close(): void {
    clearInterval(this.timer);
    this.agent.destroy();
  }
}
