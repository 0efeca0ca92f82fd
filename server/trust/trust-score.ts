/*
 * Sellers' trust scores (issue 11), a pure function of the books: who bought from whom, who
 * rated whom, and who the operator granted credits to. server/trust/trust-refresh.ts reads
 * those from the database and stores the result in TrustScore (derived state).
 *
 * 1. Credibility of every account: an EigenTrust-style power iteration
 *      t ← (1 − α)·Cᵀ·t + α·p
 *    over the graph of settled, undisputed purchases, where C[i][j] is the share of everything
 *    i paid that went to j (edges weighted by amount paid), and p, the teleport, sits on the
 *    accounts the operator granted credits to (outside money), in proportion to what they were
 *    granted, each capped at the median grant (so one big grant is not a trust fountain).
 *    Accounts that bought nothing hand their trust back to p. Nobody can mint credibility:
 *    fresh accounts get some only when credible accounts pay them, and a closed group passes
 *    on at most (1 − α)/α times what flows into it; with α = 0.5 that is 1×, so a ring funded
 *    by one granted account holds at most that account's credibility.
 * 2. A rater's weight: t / t_ref capped at 1, where t_ref is the median credibility of the
 *    granted accounts. A typical member counts as one rating; no single account counts more.
 * 3. A seller's score: a Bayesian average with prior mean 3 and prior weight 5 over one voice
 *    per rater (the mean of that rater's ratings of the seller, at the rater's weight), each
 *    upheld dispute counting as a 1-star rating of weight DISPUTE_WEIGHT (a proven fraud is a
 *    fact, not an opinion, so its weight does not depend on the buyer):
 *      score = (3·5 + Σ w·s + 1·D·d) / (5 + Σ w + D·d)
 */

/** The prior every seller starts from: a mean of PRIOR_MEAN worth PRIOR_WEIGHT full ratings. */
export const PRIOR_MEAN = 3;
export const PRIOR_WEIGHT = 5;
/** Teleport probability of the credibility iteration (see the top of the file for why 0.5). */
export const TELEPORT = 0.5;
/** Each upheld dispute counts as a 1-star rating of this weight. */
export const DISPUTE_WEIGHT = 2;
/** The iteration stops when the L1 change is below this, or after MAX_ITERATIONS. */
const EPSILON = 1e-12;
const MAX_ITERATIONS = 200;

/** One purchase that completed (released or settled) or was refunded after an upheld proof. */
export interface TrustPurchase {
  readonly buyer: number;
  readonly seller: number;
  /** Credits paid. */
  readonly amount: number;
  /** The key was released but not settled yet: not an edge (it may still be disputed). */
  readonly settled: boolean;
  /** Refunded after an upheld proof of misbehaviour: not an edge, and a lost dispute of the seller. */
  readonly disputed: boolean;
}

export interface TrustRating {
  readonly rater: number;
  readonly seller: number;
  /** 1 to 5. */
  readonly score: number;
}

/** Credits the operator granted an account (the sum of its grants). */
export interface TrustGrant {
  readonly account: number;
  readonly amount: number;
}

export interface SellerTrust {
  /** 0 to 5 (1 to 5 in practice); PRIOR_MEAN with nothing counted. */
  readonly score: number;
  /** Ratings from raters with some credibility. */
  readonly ratings: number;
  /** The sum of the counted voices' weights. */
  readonly weight: number;
  readonly disputesLost: number;
}

export interface TrustResult {
  /** Per account that was rated or lost a dispute. */
  readonly sellers: Map<number, SellerTrust>;
  /** Every account's rater weight (0 to 1); absent is 0. */
  readonly weights: Map<number, number>;
  /** Every account's credibility (sums to 1 when anyone was granted credits). */
  readonly credibility: Map<number, number>;
}

export interface TrustParameters {
  readonly teleport: number;
  readonly priorMean: number;
  readonly priorWeight: number;
  readonly disputeWeight: number;
}

export const TRUST_PARAMETERS: TrustParameters = { teleport: TELEPORT, priorMean: PRIOR_MEAN, priorWeight: PRIOR_WEIGHT, disputeWeight: DISPUTE_WEIGHT };

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Credibility of every account: the power iteration described at the top of the file. */
export function credibility(purchases: readonly TrustPurchase[], grants: readonly TrustGrant[], teleport = TELEPORT): Map<number, number> {
  const granted = new Map<number, number>();
  for (const grant of grants) if (grant.amount > 0) granted.set(grant.account, (granted.get(grant.account) ?? 0) + grant.amount);
  const result = new Map<number, number>();
  if (granted.size === 0) return result;

  // Dense indices for every account that appears.
  const index = new Map<number, number>();
  const ids: number[] = [];
  const at = (account: number): number => {
    let i = index.get(account);
    if (i === undefined) {
      i = ids.length;
      index.set(account, i);
      ids.push(account);
    }
    return i;
  };
  for (const account of granted.keys()) at(account);
  // Outgoing payments per buyer, summed per seller.
  const paid = new Map<number, Map<number, number>>();
  for (const purchase of purchases) {
    if (!purchase.settled || purchase.disputed || purchase.amount <= 0 || purchase.buyer === purchase.seller) continue;
    const from = at(purchase.buyer);
    const to = at(purchase.seller);
    let row = paid.get(from);
    if (row === undefined) paid.set(from, (row = new Map()));
    row.set(to, (row.get(to) ?? 0) + purchase.amount);
  }
  const n = ids.length;
  const cap = median([...granted.values()]);
  const p = new Float64Array(n);
  let pSum = 0;
  for (const [account, amount] of granted) {
    const share = Math.min(amount, cap);
    p[index.get(account)!] = share;
    pSum += share;
  }
  for (let i = 0; i < n; i++) p[i]! /= pSum;
  // Edges as flat arrays: from, to, share of from's payments.
  const edgeFrom: number[] = [];
  const edgeTo: number[] = [];
  const edgeShare: number[] = [];
  const hasOut = new Uint8Array(n);
  for (const [from, row] of paid) {
    let total = 0;
    for (const amount of row.values()) total += amount;
    for (const [to, amount] of row) {
      edgeFrom.push(from);
      edgeTo.push(to);
      edgeShare.push(amount / total);
    }
    hasOut[from] = 1;
  }

  let t = Float64Array.from(p);
  let next = new Float64Array(n);
  for (let iteration = 0; iteration < MAX_ITERATIONS; iteration++) {
    next.fill(0);
    // Trust of accounts that paid nobody goes back to the teleport, as does α of everything.
    let back = 0;
    for (let i = 0; i < n; i++) if (hasOut[i] === 0) back += t[i]!;
    for (let e = 0; e < edgeFrom.length; e++) next[edgeTo[e]!]! += (1 - teleport) * t[edgeFrom[e]!]! * edgeShare[e]!;
    const toP = teleport + (1 - teleport) * back;
    let change = 0;
    for (let i = 0; i < n; i++) {
      next[i]! += toP * p[i]!;
      change += Math.abs(next[i]! - t[i]!);
    }
    [t, next] = [next, t];
    if (change < EPSILON) break;
  }
  for (let i = 0; i < n; i++) result.set(ids[i]!, t[i]!);
  return result;
}

/** Every seller's score from the books; see the top of the file. */
export function trustScores(
  input: { purchases: readonly TrustPurchase[]; ratings: readonly TrustRating[]; grants: readonly TrustGrant[] },
  parameters: TrustParameters = TRUST_PARAMETERS,
): TrustResult {
  const trust = credibility(input.purchases, input.grants, parameters.teleport);
  const grantedAccounts = new Set(input.grants.filter((grant) => grant.amount > 0).map((grant) => grant.account));
  const reference = median([...grantedAccounts].map((account) => trust.get(account) ?? 0));
  const weights = new Map<number, number>();
  if (reference > 0) {
    for (const [account, value] of trust) if (value > 0) weights.set(account, Math.min(1, value / reference));
  }

  // One voice per (rater, seller): the mean of the rater's ratings of that seller.
  const voices = new Map<number, Map<number, { sum: number; count: number }>>();
  for (const rating of input.ratings) {
    if (rating.rater === rating.seller || !(rating.score >= 1 && rating.score <= 5)) continue;
    let bySeller = voices.get(rating.seller);
    if (bySeller === undefined) voices.set(rating.seller, (bySeller = new Map()));
    const voice = bySeller.get(rating.rater) ?? { sum: 0, count: 0 };
    voice.sum += rating.score;
    voice.count += 1;
    bySeller.set(rating.rater, voice);
  }
  const disputes = new Map<number, number>();
  for (const purchase of input.purchases) if (purchase.disputed) disputes.set(purchase.seller, (disputes.get(purchase.seller) ?? 0) + 1);

  const sellers = new Map<number, SellerTrust>();
  for (const seller of new Set([...voices.keys(), ...disputes.keys()])) {
    let weighted = parameters.priorMean * parameters.priorWeight;
    let weight = 0;
    let ratings = 0;
    for (const [rater, voice] of voices.get(seller) ?? []) {
      const w = weights.get(rater) ?? 0;
      if (w <= 0) continue;
      weighted += w * (voice.sum / voice.count);
      weight += w;
      ratings += voice.count;
    }
    const disputesLost = disputes.get(seller) ?? 0;
    weighted += 1 * parameters.disputeWeight * disputesLost;
    const score = weighted / (parameters.priorWeight + weight + parameters.disputeWeight * disputesLost);
    sellers.set(seller, { score, ratings, weight, disputesLost });
  }
  return { sellers, weights, credibility: trust };
}
