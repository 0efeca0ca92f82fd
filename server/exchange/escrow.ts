import { randomBytes } from 'node:crypto';
import {
  AcceptanceBody,
  OfferBody,
  SALE_ID_BYTES,
  SignedStatement,
  UdnsError,
  encodeSharePath,
  saleMovementKey,
  verifyStatement,
  type AcceptAnswer,
  type PurchaseRequest,
  type SaleClosed,
  type SaleDeclined,
  type SaleEndReason,
  type SaleOffered,
  type SaleProof,
  type SaleRequested,
  type SaleState,
  type SaleView,
} from '../../protocol/index.js';
import { CHUNK_BYTES, keyHash } from '../../protocol/sealed-file.js';
import type { AccountInfo } from '../accounts/account-store.js';
import { failpoint } from '../failpoints.js';
import type { Logger } from '../logger.js';
import type { PublicUrls } from '../public-urls.js';
import type { SigningKeyStore } from '../keys/signing-key-store.js';
import type { SearchIndex } from '../search/search-index.js';
import type { CreditBook, WalletRef } from '../ledger/credit-book.js';
import type { LedgerLog } from '../ledger/ledger-log.js';
import { ledgerTx, type Tx } from '../ledger/ledger-tx.js';
import { checkSaleProof } from './proof-check.js';
import type { SalePatch, SaleRecord, SaleStore } from './sale-store.js';

/*
 * The escrow's state machine (docs/exchange.md). Every transition is one ledgerTx
 * transaction: a compare-and-set on the sale's state, the credit movement(s) of that step, and
 * a `sale` ledger entry. Whatever crashes, a sale is where it was or one step further, and the
 * sweeper (sale-sweeper.ts) finishes or refunds it at its deadline:
 *
 *   offering ──offer──▶ reserved ──accept──▶ released ──window──▶ settled
 *      │                   │                     │
 *      ├ declined/timeout  ├ cancel/timeout      └ proof upheld ──▶ refunded
 *      ▼                   ▼
 *    failed             refunded
 *
 * Money: reserve member:buyer→escrow; pay escrow→held:seller; settle held:seller→member:seller;
 * refund escrow→member:buyer; reclaim held:seller→member:buyer. Each movement's idempotency key
 * is saleMovementKey(saleId, step) under actor "escrow", so a step can never move twice.
 */

/** The escrow's timeouts (server/config.ts; read at every decision, so SIGHUP applies them). */
export interface EscrowSettings {
  readonly offerTimeoutMs: number;
  readonly saleTimeoutMs: number;
  readonly disputeWindowMs: number;
}

/** Members' registered signing keys (server/keys/). */
export type MemberKeys = Pick<SigningKeyStore, 'hasActiveKey' | 'activeKeyOf'>;

/** The tunnel that serves a seller's listed share, as the escrow talks to it. */
export interface SellerLine {
  readonly routeId: string;
  send(message: SaleRequested | SaleClosed): void;
}

/** Finds the live tunnel of `sellerId` serving `label`; null when offline or someone else's. */
export type SellerLines = (label: string, sellerId: number) => SellerLine | null;

export interface EscrowDeps {
  readonly sales: SaleStore;
  /** The members' index: what the listing promises (price, size, SHA-256, Merkle root). */
  readonly files: Pick<SearchIndex, 'lookupFile'>;
  readonly books: CreditBook;
  readonly ledger: LedgerLog;
  readonly keys: MemberKeys;
  readonly sellers: SellerLines;
  readonly settings: () => EscrowSettings;
  readonly urls: PublicUrls;
  readonly logger: Logger;
  readonly now?: () => number;
}

const ESCROW_ACTOR = 'escrow';
/** Sale requests this edge remembers having sent (a sale waits for its offer 5 minutes by default). */
const MAX_REMEMBERED_REQUESTS = 10_000;
/**
 * Sales of one share one buyer may have waiting for an offer or an acceptance. Each makes the
 * seller's agent seal the whole file (its queue holds 16): without a bound, a member with
 * credits for one copy could keep a seller busy with purchases it never finishes.
 */
export const MAX_OPEN_PURCHASES_PER_SHARE = 4;
/** Account names the escrow keeps in memory (ids to names, a few hundred KB at most). */
const MAX_REMEMBERED_NAMES = 10_000;
/** Sales re-sent to a reconnecting seller at most (the oldest first). */
const MAX_RESENT = 1_000;

export class Escrow {
  private readonly now: () => number;
  private readonly log: Logger;
  /** Sales this edge sent a SaleRequested for (oldest first, bounded): requestPending skips them. */
  private readonly requested = new Map<string, true>();
  /** Long-polls of this process waiting for a sale to change (see changed()). */
  private readonly waiters = new Map<string, Set<() => void>>();
  /**
   * Account names by id (an account's name never changes, and ids are not reused): every view
   * of a sale names its buyer and seller, and a query per answer was a large part of the edge's
   * work per purchase on PostgreSQL (each query costs its CPU in Prisma and a socket round trip).
   */
  private readonly nameOf = new Map<number, string>();

  constructor(private readonly deps: EscrowDeps) {
    this.now = deps.now ?? Date.now;
    this.log = deps.logger.child({ component: 'escrow' });
  }

  // ---- the buyer's requests ----

  /**
   * POST /api/v1/purchases. The same (buyer, idempotencyKey) is the same sale.
   * @throws UdnsError bad_request, not_found, price_too_high, forbidden, insufficient_credits, idempotency_conflict, sale_state (seller offline)
   */
  async request(buyer: AccountInfo, request: PurchaseRequest, target: { label: string; path: string }): Promise<SaleView> {
    const existing = await this.deps.sales.byBuyerKey(buyer.id, request.idempotencyKey);
    if (existing !== null) return this.sameRequest(existing, request, target);
    const listing = await this.deps.files.lookupFile(target.label, target.path, this.now());
    if (listing === null) throw new UdnsError('not_found', `${target.label}${target.path} is not a listed file: check the URL (udns search finds listed files)`);
    if (listing.price === null) throw new UdnsError('bad_request', `${target.label}${target.path} is free: fetch it with udns get`);
    if (listing.sha256 === null || listing.merkleRoot === null) throw new UdnsError('not_found', `${target.label}${target.path} is not hashed yet: try again once the seller's agent has indexed it`);
    if (listing.price > request.maxPrice) throw new UdnsError('price_too_high', `${target.label}${target.path} costs ${listing.price} credits, more than your limit of ${request.maxPrice}: raise --pay-up-to`);
    if (listing.ownerId === buyer.id) throw new UdnsError('bad_request', 'this file is your own: you cannot buy it');
    if (!(await this.deps.keys.hasActiveKey(buyer.id))) throw new UdnsError('forbidden', 'you have no registered signing key: run `udns login` to make and register one');
    const { available } = await this.deps.books.balances(buyer.id);
    if (available < listing.price) throw new UdnsError('insufficient_credits', `${target.label}${target.path} costs ${listing.price} credits and you have ${available}: ask the operator or another member for credits`);

    // Not in the insert's transaction: a soft bound (a burst of parallel requests may pass it by
    // its size), which is enough to stop one member from keeping a seller sealing all day.
    if (await this.deps.sales.openCount(buyer.id, target.label, this.now()) >= MAX_OPEN_PURCHASES_PER_SHARE) {
      throw new UdnsError('rate_limited', `you have ${MAX_OPEN_PURCHASES_PER_SHARE} purchases from ${target.label} waiting: finish or cancel one first (udns get resumes them)`);
    }
    const now = this.now();
    const id = randomBytes(SALE_ID_BYTES).toString('hex');
    const inserted = await this.deps.sales.database.prisma.$transaction(async (tx) => {
      const ok = await this.deps.sales.insert(tx as unknown as Tx, {
        id, buyerId: buyer.id, sellerId: listing.ownerId, buyerKey: request.idempotencyKey, share: target.label, path: target.path,
        price: listing.price!, size: listing.size, plainSha256: listing.sha256!, plainRoot: listing.merkleRoot!,
        state: 'offering', deadline: now + this.deps.settings().offerTimeoutMs,
      }, new Date(now));
      if (ok) failpoint('sale.offer.before-commit');
      return ok;
    });
    if (!inserted) {
      const winner = await this.deps.sales.byBuyerKey(buyer.id, request.idempotencyKey);
      if (winner === null) throw new UdnsError('internal', 'a purchase with this key vanished: retry');
      return this.sameRequest(winner, request, target);
    }
    failpoint('sale.offer.after-commit');
    const sale = (await this.deps.sales.get(id))!;
    this.log.info({ sale: id, buyer: buyer.name, share: sale.share, path: sale.path, price: sale.price }, 'purchase requested');
    // No tunnel here, but the index says one serves the share: on another edge sharing this
    // database, whose sweeper asks its seller for pending offers (requestPending) within a second.
    if (!(await this.requestOffer(sale)) && !listing.online) {
      await this.end(sale, 'offering', 'failed', 'offer timeout');
      throw new UdnsError('sale_state', `the seller of ${sale.share}${sale.path} is offline: try again when ${sale.share} is online (sale ${id} failed, nothing was reserved)`);
    }
    return this.view(sale);
  }

  /** The view of a sale to its buyer or seller. @throws UdnsError not_found */
  async get(account: AccountInfo, id: string): Promise<SaleView> {
    return this.view(await this.visible(account, id));
  }

  /** The sale's state now (for long-polls), or null when `account` may not see it. */
  async stateOf(account: AccountInfo, id: string): Promise<SaleRecord | null> {
    const sale = await this.deps.sales.get(id);
    return sale !== null && (sale.buyerId === account.id || sale.sellerId === account.id) ? sale : null;
  }

  async list(account: AccountInfo, role: 'bought' | 'sold' | 'all', limit: number, before?: Date): Promise<SaleView[]> {
    const sales = await this.deps.sales.listFor(account.id, role, limit, before);
    const names = await this.accountNames(sales.flatMap((sale) => [sale.buyerId, sale.sellerId]));
    return sales.map((sale) => this.viewWith(sale, names));
  }

  /**
   * POST /api/v1/purchases/:id/accept: the buyer's signed acceptance releases K to it and the
   * price to the seller's held credits. A repeat by the same buyer returns the same answer.
   * @throws UdnsError not_found, forbidden, bad_request, hash_mismatch, sale_state
   */
  async accept(buyer: AccountInfo, id: string, acceptance: SignedStatement): Promise<AcceptAnswer> {
    const sale = await this.asBuyer(buyer, id);
    if (sale.state === 'released' || (sale.state === 'settled' && sale.receipt !== null) || (sale.state === 'refunded' && sale.reason === 'proof upheld')) {
      return this.acceptAnswer(sale);
    }
    if (sale.state !== 'reserved') throw new UdnsError('sale_state', `sale ${id} is ${sale.state}${sale.reason ? ` (${sale.reason})` : ''}: only a reserved sale can be accepted`);
    const offer = parseStatement(sale.offer)!;
    const body = AcceptanceBody.safeParse(acceptance.body);
    if (acceptance.kind !== 'acceptance' || !body.success) throw new UdnsError('bad_request', 'the acceptance is not an acceptance statement (protocol/exchange.ts AcceptanceBody)');
    const buyerKey = await this.deps.keys.activeKeyOf(buyer.id, acceptance.keyId);
    if (buyerKey === null) throw new UdnsError('forbidden', 'the acceptance is not signed with one of your registered keys: run `udns login` to register this key');
    if (!verifyStatement(acceptance, 'acceptance', buyerKey)) throw new UdnsError('forbidden', 'the acceptance\'s signature does not verify with your registered key');
    if (body.data.saleId !== id || body.data.buyer !== buyer.name || body.data.offerSignature !== offer.signature) {
      throw new UdnsError('bad_request', 'the acceptance names another sale, buyer or offer');
    }
    if (body.data.cipherRoot !== sale.cipherRoot) {
      throw new UdnsError('hash_mismatch', `what you received hashes to ${body.data.cipherRoot.slice(0, 16)}…, not to the seller's ${sale.cipherRoot!.slice(0, 16)}…: nothing was paid; cancel the purchase or fetch the file again`);
    }
    const now = this.now();
    const sellerKey = await this.deps.keys.activeKeyOf(sale.sellerId, offer.keyId);
    if (sellerKey === null) throw new UdnsError('sale_state', `the seller's key ${offer.keyId} was revoked since the offer: cancel the purchase`);
    const released = await ledgerTx(this.deps.sales.database, async (tx) => {
      const moved = await this.deps.sales.transition(tx, id, 'reserved', 'released', {
        acceptance: JSON.stringify(acceptance), deadline: now + this.deps.settings().disputeWindowMs,
      }, new Date(now), { after: now });
      if (!moved) return false;
      await this.move(tx, sale, 'pay', 'escrow', { held: sale.sellerId });
      const [seq] = await this.deps.ledger.appendIn(tx, [this.entry(sale, 'released', null, now, acceptance)]);
      const receipt = this.deps.ledger.sign('receipt', {
        v: 1, saleId: id, offer, acceptance, sellerKey, buyerKey, releasedAt: now, ledgerSeq: seq!,
      });
      await this.deps.sales.setReceipt(tx, id, JSON.stringify(receipt));
      failpoint('sale.release.before-commit');
      return true;
    });
    if (!released) {
      const again = (await this.deps.sales.get(id))!;
      if (again.state === 'released') return this.acceptAnswer(again);
      throw new UdnsError('sale_state', `sale ${id} is ${again.state}${again.reason ? ` (${again.reason})` : ''}${again.state === 'reserved' ? ': its time ran out' : ''}: only a reserved sale can be accepted`);
    }
    failpoint('sale.release.after-commit');
    this.wake(id);
    this.log.info({ sale: id, buyer: buyer.name, price: sale.price }, 'sale released');
    return this.acceptAnswer((await this.deps.sales.get(id))!);
  }

  /**
   * POST /api/v1/purchases/:id/cancel: before the key's release the buyer may walk away;
   * reserved credits go back. Cancelling an already cancelled sale answers it again.
   * @throws UdnsError not_found, sale_state
   */
  async cancel(buyer: AccountInfo, id: string): Promise<SaleView> {
    const sale = await this.asBuyer(buyer, id);
    if ((sale.state === 'failed' || sale.state === 'refunded') && sale.reason === 'cancelled') return this.view(sale);
    if (sale.state === 'offering') {
      if (await this.end(sale, 'offering', 'failed', 'cancelled')) return this.view((await this.deps.sales.get(id))!);
    } else if (sale.state === 'reserved') {
      if (await this.end(sale, 'reserved', 'refunded', 'cancelled')) return this.view((await this.deps.sales.get(id))!);
    }
    const now = (await this.deps.sales.get(id))!;
    if ((now.state === 'failed' || now.state === 'refunded') && now.reason === 'cancelled') return this.view(now);
    throw new UdnsError('sale_state', `sale ${id} is ${now.state}${now.reason ? ` (${now.reason})` : ''}: only an offering or reserved sale can be cancelled${now.state === 'released' ? '; a released one is disputed with a proof' : ''}`);
  }

  /**
   * POST /api/v1/purchases/:id/dispute: a proof that the released key does not give what the
   * listing promised. Upheld: the price goes back to the buyer (`refunded`, 'proof upheld').
   * @throws UdnsError not_found, sale_state, proof_rejected
   */
  async dispute(buyer: AccountInfo, id: string, proof: SaleProof): Promise<SaleView> {
    const sale = await this.asBuyer(buyer, id);
    if (sale.state === 'refunded' && sale.reason === 'proof upheld') return this.view(sale);
    const now = this.now();
    if (sale.state !== 'released' || sale.deadline <= now) {
      throw new UdnsError('sale_state', `sale ${id} is ${sale.state}${sale.state === 'released' ? ' and its dispute window closed' : ''}: only a released sale can be disputed, within the dispute window`);
    }
    const verdict = checkSaleProof({ saleId: id, size: sale.size, cipherRoot: sale.cipherRoot!, plainRoot: sale.plainRoot, sealKey: sale.sealKey! }, proof);
    if (!verdict.upheld) {
      this.log.info({ sale: id, buyer: buyer.name, why: verdict.why }, 'proof rejected');
      throw new UdnsError('proof_rejected', `proof rejected: ${verdict.why}`);
    }
    this.log.warn({ sale: id, buyer: buyer.name, seller: sale.sellerId, why: verdict.why }, 'proof upheld: the seller is marked');
    if (!(await this.end(sale, 'released', 'refunded', 'proof upheld', { after: now }))) {
      const again = (await this.deps.sales.get(id))!;
      if (again.state === 'refunded' && again.reason === 'proof upheld') return this.view(again);
      throw new UdnsError('sale_state', `sale ${id} is ${again.state}: its dispute window closed`);
    }
    return this.view((await this.deps.sales.get(id))!);
  }

  // ---- the seller's agent ----

  /** A seller's agent answered a SaleRequested. Never throws: a bad offer fails the sale. */
  async offered(from: { accountId: number }, message: SaleOffered): Promise<void> {
    try {
      await this.takeOffer(from, message);
    } catch (error) {
      this.log.error({ err: error, sale: message.saleId }, 'could not take an offer');
    }
  }

  /** A seller's agent declined a SaleRequested. */
  async declined(from: { accountId: number }, message: SaleDeclined): Promise<void> {
    try {
      const sale = await this.deps.sales.get(message.saleId);
      if (sale === null || sale.sellerId !== from.accountId || sale.state !== 'offering') return;
      this.log.info({ sale: sale.id, reason: message.reason }, 'seller declined');
      await this.end(sale, 'offering', 'failed', 'declined');
    } catch (error) {
      this.log.error({ err: error, sale: message.saleId }, 'could not record a declined sale');
    }
  }

  /**
   * A seller's tunnel (re)listed share `label`: ask again for every sale of it still waiting
   * for an offer or reserved (same ids) before its deadline, so a restarted agent serves them
   * again. One past its deadline is not asked for: the sweeper ends it.
   */
  async shareListed(sellerId: number, label: string): Promise<number> {
    try {
      const open = await this.deps.sales.ofShare(sellerId, label, ['offering', 'reserved'], this.now(), MAX_RESENT);
      let sent = 0;
      for (const sale of open) if (await this.requestOffer(sale)) sent++;
      if (sent > 0) this.log.info({ name: label, sent }, 'sale requests sent again to a reconnected seller');
      return sent;
    } catch (error) {
      this.log.error({ err: error, name: label }, 'could not re-send sale requests');
      return 0;
    }
  }

  // ---- the sweeper ----

  /**
   * Asks this edge's sellers for every sale still waiting for an offer that this edge has not
   * asked yet: a purchase made on another edge of the same database reaches the seller through
   * the edge that holds its tunnel. Returns how many requests went out.
   */
  /** The earliest deadline of an open sale (ms), or null: when the sweeper must look next. */
  nextDeadline(): Promise<number | null> {
    return this.deps.sales.nextDeadline();
  }

  /** Calls `watcher` with every deadline set through this escrow's store; returns the unsubscribe. */
  watchDeadlines(watcher: (deadlineMs: number) => void): () => void {
    return this.deps.sales.watchDeadlines(watcher);
  }

  async requestPending(limit = 200): Promise<number> {
    const open = await this.deps.sales.offering(this.now(), limit);
    let sent = 0;
    for (const sale of open) if (!this.requested.has(sale.id) && (await this.requestOffer(sale))) sent++;
    return sent;
  }

  /**
   * Ends every sale past its deadline (at most `limit`); returns how many moved. Up to
   * SWEEP_BATCH sales end in one transaction: each ledgerTx waits its turn behind every buyer's
   * (ledger-tx.ts), and one at a time the sweeper fell behind the settlements of a busy edge,
   * leaving sales open long past their deadlines. A batch that fails is ended one sale at a
   * time, so one bad sale does not hold up the others.
   */
  async sweep(limit = 200): Promise<number> {
    const now = this.now();
    const due = await this.deps.sales.due(now, limit);
    let moved = 0;
    for (let at = 0; at < due.length; at += SWEEP_BATCH) {
      const batch = due.slice(at, at + SWEEP_BATCH);
      let ended: Array<{ sale: SaleRecord; end: DueEnd }> | null = null;
      try {
        ended = await ledgerTx(this.deps.sales.database, async (tx) => {
          const done: Array<{ sale: SaleRecord; end: DueEnd }> = [];
          for (const sale of batch) {
            const end = dueEnd(sale);
            if (await this.endIn(tx, sale, end.from, end.to, end.reason, now, { dueBy: now })) done.push({ sale, end });
          }
          return done;
        });
      } catch (error) {
        this.log.warn({ err: error, sales: batch.length }, 'could not end a batch of sales past their deadline: ending them one by one');
      }
      if (ended !== null) {
        for (const { sale, end } of ended) {
          try {
            this.ended(sale, end.from, end.to, end.reason);
          } catch (error) {
            this.log.error({ err: error, sale: sale.id }, 'could not tell the seller a sale ended');
          }
        }
        moved += ended.length;
        continue;
      }
      for (const sale of batch) {
        try {
          const end = dueEnd(sale);
          if (await this.end(sale, end.from, end.to, end.reason, { dueBy: now })) moved++;
        } catch (error) {
          this.log.error({ err: error, sale: sale.id }, 'could not end a sale past its deadline');
        }
      }
    }
    return moved;
  }

  // ---- inside ----

  private async takeOffer(from: { accountId: number }, message: SaleOffered): Promise<void> {
    const sale = await this.deps.sales.get(message.saleId);
    if (sale === null) return;
    if (sale.sellerId !== from.accountId) {
      // Only the tunnel of the share's owner may offer; another account's is ignored, not believed.
      this.log.warn({ sale: sale.id, from: from.accountId }, 'offer from an account that is not the seller: ignored');
      return;
    }
    // A repeated offer (the agent answered a re-sent request) for a sale past offering.
    if (sale.state !== 'offering') return;
    const problem = await this.offerProblem(sale, message);
    if (problem !== null) {
      this.log.warn({ sale: sale.id, problem }, 'bad offer');
      await this.end(sale, 'offering', 'failed', 'bad offer');
      return;
    }
    const now = this.now();
    let outcome: 'reserved' | 'lost' | 'insufficient';
    try {
      outcome = await ledgerTx(this.deps.sales.database, async (tx) => {
        // Only before the offer's deadline: a late offer (an agent restarted after it, answering
        // the sale again) reserving it would give it a fresh sale timeout, and the buyer, who
        // may have given up on it, a sale held open long after it was due to fail.
        const moved = await this.deps.sales.transition(tx, sale.id, 'offering', 'reserved', {
          offer: JSON.stringify(message.offer), cipherRoot: (message.offer.body as OfferBody).cipherRoot, sealKey: message.key,
          deadline: now + this.deps.settings().saleTimeoutMs,
        }, new Date(now), { after: now });
        if (!moved) return 'lost';
        await this.move(tx, sale, 'reserve', { member: sale.buyerId }, 'escrow');
        await this.deps.ledger.appendIn(tx, [this.entry({ ...sale, offer: JSON.stringify(message.offer), cipherRoot: (message.offer.body as OfferBody).cipherRoot }, 'reserved', null, now)]);
        failpoint('sale.reserve.before-commit');
        return 'reserved';
      });
    } catch (error) {
      if (!(error instanceof UdnsError && error.code === 'insufficient_credits')) throw error;
      outcome = 'insufficient';
    }
    if (outcome === 'insufficient') {
      await this.end(sale, 'offering', 'failed', 'insufficient credits');
      return;
    }
    if (outcome === 'lost') {
      // Past its deadline (or moved by someone else meanwhile): ended now rather than at the next sweep.
      if (sale.deadline <= now) await this.end(sale, 'offering', 'failed', 'offer timeout', { dueBy: now });
      return;
    }
    if (outcome === 'reserved') {
      failpoint('sale.reserve.after-commit');
      this.wake(sale.id);
      this.log.info({ sale: sale.id, price: sale.price }, 'credits reserved');
    }
  }

  /** Why an offer does not fit its sale, or null when it does. */
  private async offerProblem(sale: SaleRecord, message: SaleOffered): Promise<string | null> {
    const statement = message.offer;
    if (statement.kind !== 'offer') return 'not an offer statement';
    const parsed = OfferBody.safeParse(statement.body);
    if (!parsed.success) return 'the offer body does not parse';
    const body = parsed.data;
    const key = await this.deps.keys.activeKeyOf(sale.sellerId, statement.keyId);
    if (key === null) return 'not signed by a registered key of the seller';
    if (!verifyStatement(statement, 'offer', key)) return 'the signature does not verify';
    const names = await this.names(sale);
    const expected: Partial<Record<keyof OfferBody, unknown>> = {
      saleId: sale.id, seller: names.seller, buyer: names.buyer, share: sale.share, path: sale.path,
      size: sale.size, price: sale.price, chunkBytes: CHUNK_BYTES, plainSha256: sale.plainSha256, plainRoot: sale.plainRoot,
    };
    for (const [field, value] of Object.entries(expected)) {
      if (body[field as keyof OfferBody] !== value) return `${field} differs from the listing`;
    }
    if (keyHash(Buffer.from(message.key, 'hex')) !== body.keyHash) return 'the key does not hash to the offer\'s keyHash';
    return null;
  }

  /** Sends SaleRequested to the seller's tunnel; false when none serves the share. */
  private async requestOffer(sale: SaleRecord): Promise<boolean> {
    const line = this.deps.sellers(sale.share, sale.sellerId);
    if (line === null) return false;
    this.requested.set(sale.id, true);
    if (this.requested.size > MAX_REMEMBERED_REQUESTS) this.requested.delete(this.requested.keys().next().value!);
    const names = await this.accountNames([sale.buyerId]);
    line.send({
      type: 'saleRequested', saleId: sale.id, routeId: line.routeId, path: sale.path, price: sale.price, size: sale.size,
      plainRoot: sale.plainRoot, buyer: names.get(sale.buyerId) ?? '', expiresAt: sale.deadline,
    });
    return true;
  }

  /**
   * Moves a sale from `from` to the end state `to` (or settled) with its movement and ledger
   * entry, in one transaction; false when the sale was no longer in `from` (someone else moved it).
   */
  private async end(sale: SaleRecord, from: SaleState, to: SaleState, reason: SaleEndReason | null, deadline?: { after?: number; dueBy?: number }): Promise<boolean> {
    const now = this.now();
    const moved = await ledgerTx(this.deps.sales.database, (tx) => this.endIn(tx, sale, from, to, reason, now, deadline));
    if (!moved) return false;
    this.ended(sale, from, to, reason);
    return true;
  }

  /** end()'s work inside `tx` (a ledgerTx); false when the sale was no longer in `from`. */
  private async endIn(tx: Tx, sale: SaleRecord, from: SaleState, to: SaleState, reason: SaleEndReason | null, now: number, deadline?: { after?: number; dueBy?: number }): Promise<boolean> {
    const step = endStep(from, to);
    const patch: SalePatch = { reason };
    if (!(await this.deps.sales.transition(tx, sale.id, from, to, patch, new Date(now), deadline))) return false;
    if (step === 'settle') await this.move(tx, sale, 'settle', { held: sale.sellerId }, { member: sale.sellerId });
    if (step === 'refund') await this.move(tx, sale, 'refund', 'escrow', { member: sale.buyerId });
    if (step === 'reclaim') await this.move(tx, sale, 'reclaim', { held: sale.sellerId }, { member: sale.buyerId });
    await this.deps.ledger.appendIn(tx, [this.entry(sale, to, reason, now)]);
    if (step !== null) failpoint(`sale.${step}.before-commit`);
    return true;
  }

  /** After an end's commit: long-polls wake, the seller's agent forgets the sale. */
  private ended(sale: SaleRecord, from: SaleState, to: SaleState, reason: SaleEndReason | null): void {
    const step = endStep(from, to);
    if (step !== null) failpoint(`sale.${step}.after-commit`);
    this.wake(sale.id);
    this.log.info({ sale: sale.id, from, to, reason }, 'sale ended');
    this.deps.sellers(sale.share, sale.sellerId)?.send({ type: 'saleClosed', saleId: sale.id, state: to });
  }

  private async move(tx: Tx, sale: SaleRecord, step: 'reserve' | 'pay' | 'settle' | 'refund' | 'reclaim', from: WalletRef, to: WalletRef): Promise<void> {
    await this.deps.books.moveIn(tx, {
      actor: ESCROW_ACTOR, idempotencyKey: saleMovementKey(sale.id, step), kind: step, from, to, amount: sale.price, saleId: sale.id,
    });
  }

  /** The `sale` ledger entry of a transition (protocol/ledger.ts). */
  private entry(sale: SaleRecord, state: SaleState, reason: SaleEndReason | null, at: number, acceptance?: SignedStatement) {
    const offer = parseStatement(sale.offer);
    const accepted = acceptance ?? parseStatement(sale.acceptance);
    return {
      kind: 'sale' as const,
      body: {
        kind: 'sale', at, saleId: sale.id, state, reason, buyer: sale.buyerId, seller: sale.sellerId, price: sale.price,
        share: sale.share, path: sale.path, plainRoot: sale.plainRoot, cipherRoot: sale.cipherRoot,
        keyHash: (offer?.body as OfferBody | undefined)?.keyHash ?? null,
        offerSignature: offer?.signature ?? null, acceptanceSignature: accepted?.signature ?? null,
      },
      parties: [sale.buyerId, sale.sellerId],
    };
  }

  private async names(sale: SaleRecord): Promise<{ buyer: string; seller: string }> {
    const names = await this.accountNames([sale.buyerId, sale.sellerId]);
    return { buyer: names.get(sale.buyerId) ?? `#${sale.buyerId}`, seller: names.get(sale.sellerId) ?? `#${sale.sellerId}` };
  }

  private async acceptAnswer(sale: SaleRecord): Promise<AcceptAnswer> {
    if (sale.sealKey === null || sale.receipt === null) throw new UdnsError('sale_state', `sale ${sale.id} was never released`);
    return { key: sale.sealKey, receipt: parseStatement(sale.receipt)!, sale: await this.view(sale) };
  }

  private sameRequest(sale: SaleRecord, request: PurchaseRequest, target: { label: string; path: string }): Promise<SaleView> {
    if (sale.share !== target.label || sale.path !== target.path || sale.price > request.maxPrice) {
      throw new UdnsError('idempotency_conflict', `idempotency key ${request.idempotencyKey} was used for another purchase (sale ${sale.id}): use a fresh key`);
    }
    return this.view(sale);
  }

  private async visible(account: AccountInfo, id: string): Promise<SaleRecord> {
    const sale = await this.stateOf(account, id);
    if (sale === null) throw new UdnsError('not_found', `no purchase ${id} of yours: udns credits lists yours`);
    return sale;
  }

  private async asBuyer(account: AccountInfo, id: string): Promise<SaleRecord> {
    const sale = await this.visible(account, id);
    if (sale.buyerId !== account.id) throw new UdnsError('forbidden', `you sold ${id}: only its buyer may do this`);
    return sale;
  }

  /**
   * Resolves when this process commits a change of sale `id`, or after `ms`, whichever is
   * first. Long-polls wait on it instead of reading the database every 200 ms: at 50 waiting
   * buyers that polling was most of the edge's CPU per exchange (measured 96 ms per exchange).
   * Another edge's change is seen at the next timeout, so callers keep a fallback read.
   */
  changed(id: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let waiting = this.waiters.get(id);
      if (waiting === undefined) this.waiters.set(id, waiting = new Set());
      const done = (): void => {
        clearTimeout(timer);
        const set = this.waiters.get(id);
        set?.delete(done);
        if (set?.size === 0) this.waiters.delete(id);
        resolve();
      };
      const timer = setTimeout(done, ms);
      waiting.add(done);
    });
  }

  private wake(id: string): void {
    for (const done of [...(this.waiters.get(id) ?? [])]) done();
  }

  async view(sale: SaleRecord): Promise<SaleView> {
    return this.viewWith(sale, await this.accountNames([sale.buyerId, sale.sellerId]));
  }

  /** Names of accounts, from memory when seen before (bounded: MAX_REMEMBERED_NAMES). */
  private async accountNames(ids: readonly number[]): Promise<Map<number, string>> {
    const missing = ids.filter((id) => !this.nameOf.has(id));
    if (missing.length > 0) {
      for (const [id, name] of await this.deps.sales.accountNames(missing)) {
        if (this.nameOf.size >= MAX_REMEMBERED_NAMES) this.nameOf.delete(this.nameOf.keys().next().value!);
        this.nameOf.set(id, name);
      }
    }
    const names = new Map<number, string>();
    for (const id of ids) {
      const name = this.nameOf.get(id);
      if (name !== undefined) names.set(id, name);
    }
    return names;
  }

  private viewWith(sale: SaleRecord, names: Map<number, string>): SaleView {
    return {
      id: sale.id, state: sale.state, reason: sale.reason,
      seller: names.get(sale.sellerId) ?? '', buyer: names.get(sale.buyerId) ?? '',
      share: sale.share, path: sale.path, url: `${this.deps.urls.forName(sale.share)}${encodeSharePath(sale.path)}`,
      price: sale.price, size: sale.size, plainSha256: sale.plainSha256, plainRoot: sale.plainRoot,
      offer: parseStatement(sale.offer), deadline: sale.deadline, createdAt: sale.createdAt.toISOString(),
    };
  }
}

/** Sales past their deadline the sweeper ends in one transaction (ledger entries of one batch go in one statement). */
const SWEEP_BATCH = 50;

type DueEnd = { from: SaleState; to: SaleState; reason: SaleEndReason | null };

/** What the sweeper makes of a sale past its deadline. */
function dueEnd(sale: SaleRecord): DueEnd {
  return sale.state === 'offering' ? { from: 'offering', to: 'failed', reason: 'offer timeout' }
    : sale.state === 'reserved' ? { from: 'reserved', to: 'refunded', reason: 'sale timeout' }
      : { from: 'released', to: 'settled', reason: null };
}

/** The credit movement of an end, if any. */
function endStep(from: SaleState, to: SaleState): 'settle' | 'refund' | 'reclaim' | null {
  return to === 'settled' ? 'settle' : from === 'reserved' ? 'refund' : from === 'released' ? 'reclaim' : null;
}

function parseStatement(text: string | null): SignedStatement | null {
  if (text === null) return null;
  const parsed = SignedStatement.safeParse(JSON.parse(text));
  return parsed.success ? parsed.data : null;
}
