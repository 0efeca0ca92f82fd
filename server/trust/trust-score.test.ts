import { describe, expect, test } from 'vitest';
import { PRIOR_MEAN, TRUST_PARAMETERS, credibility, trustScores, type TrustGrant, type TrustParameters, type TrustPurchase, type TrustRating } from './trust-score.js';

/*
 * A simulated market: 30 honest buyers granted credits buy from 10 honest sellers of mixed
 * quality and rate them honestly (with noise); a ring of 20 fresh accounts, funded by one
 * granted account that sends them credits (sends are not purchases, so they appear nowhere
 * here), buys from each other over and over and rates the ring's seller 5 every time.
 * Variants give the ring what it could try next. TRUST_SIM_REPORT=1 prints the numbers.
 */

/** Deterministic PRNG (mulberry32), so the simulation is the same on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HONEST_BUYERS = Array.from({ length: 30 }, (_, i) => 1 + i);
const HONEST_SELLERS = Array.from({ length: 10 }, (_, i) => 101 + i);
/** Mean rating each honest seller earns. */
const QUALITY = [4.8, 4.6, 4.4, 4.2, 4.0, 3.6, 3.0, 2.5, 2.0, 1.5];
const FUNDER = 200;
const RING = Array.from({ length: 20 }, (_, i) => 301 + i);
const RING_SELLER = RING[0]!;

interface Variant {
  /** Each ring member is granted this much too. */
  ringGrant?: number;
  /** The funder buys from the ring seller this many times (and rates it 5). */
  funderBuys?: number;
  /** Each ring member buys once from an honest seller (and rates it 1). */
  ringBuysHonest?: boolean;
  /** Purchases per ring member inside the ring. */
  ringPurchases?: number;
}

interface Market {
  purchases: TrustPurchase[];
  ratings: TrustRating[];
  grants: TrustGrant[];
}

function market(variant: Variant = {}, seed = 11): Market {
  const next = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  const purchases: TrustPurchase[] = [];
  const ratings: TrustRating[] = [];
  const grants: TrustGrant[] = HONEST_BUYERS.map((account) => ({ account, amount: 1000 }));
  const buy = (buyer: number, seller: number, amount: number, rating?: number): void => {
    purchases.push({ buyer, seller, amount, settled: true, disputed: false });
    if (rating !== undefined) ratings.push({ rater: buyer, seller, score: rating });
  };
  // Honest market: 10 purchases each, 70 % rated, the seller's quality ± 1.
  for (const buyer of HONEST_BUYERS) {
    for (let k = 0; k < 10; k++) {
      const s = Math.floor(next() * HONEST_SELLERS.length);
      const rated = next() < 0.7;
      const noisy = Math.min(5, Math.max(1, Math.round(QUALITY[s]! + (next() * 2 - 1))));
      buy(buyer, HONEST_SELLERS[s]!, 10 + Math.floor(next() * 90), rated ? noisy : undefined);
    }
  }
  // The ring: the funder is granted like an honest member and sends credits to the ring.
  grants.push({ account: FUNDER, amount: 1000 });
  if (variant.ringGrant !== undefined) for (const member of RING) grants.push({ account: member, amount: variant.ringGrant });
  for (const member of RING) {
    for (let k = 0; k < (variant.ringPurchases ?? 10); k++) {
      const seller = k % 2 === 0 ? RING_SELLER : pick(RING);
      if (seller === member) continue;
      buy(member, seller, 100, seller === RING_SELLER ? 5 : undefined);
    }
    if (variant.ringBuysHonest) buy(member, HONEST_SELLERS[0]!, 10, 1);
  }
  for (let k = 0; k < (variant.funderBuys ?? 0); k++) buy(FUNDER, RING_SELLER, 100, 5);
  return { purchases, ratings, grants };
}

function outcome(m: Market, parameters: TrustParameters = TRUST_PARAMETERS) {
  const result = trustScores(m, parameters);
  const score = (seller: number) => result.sellers.get(seller)?.score ?? PRIOR_MEAN;
  // The weight of the voices that reach the ring seller (the funder's own included when it buys).
  const ringWeight = result.sellers.get(RING_SELLER)?.weight ?? 0;
  return {
    ring: score(RING_SELLER),
    ringWeight,
    honest: HONEST_SELLERS.map(score),
    honestWeight: HONEST_BUYERS.reduce((sum, buyer) => sum + (result.weights.get(buyer) ?? 0), 0) / HONEST_BUYERS.length,
    result,
  };
}

const round = (x: number) => Math.round(x * 100) / 100;

describe('the simulated ring', () => {
  const variants: Array<[string, Variant]> = [
    ['fresh ring funded by sends', {}],
    ['ring buys 100× each', { ringPurchases: 100 }],
    ['ring also buys once from an honest seller (and rates it 1)', { ringBuysHonest: true }],
    ['every ring member granted 10', { ringGrant: 10 }],
    ['the funder buys from the ring seller once', { funderBuys: 1 }],
    ['the funder buys from the ring seller 20×', { funderBuys: 20 }],
    ['all of it', { ringGrant: 10, funderBuys: 20, ringBuysHonest: true, ringPurchases: 100 }],
  ];

  test.each(variants)('%s: the ring seller stays near the prior, below every honest seller rated 4 or better', (_name, variant) => {
    const { ring, ringWeight, honest } = outcome(market(variant));
    // The ring adds at most about one honest member's voice (the funder's credibility) to what
    // the funder itself may say as a buyer.
    expect(ringWeight).toBeLessThanOrEqual((variant.funderBuys ? 1 : 0) + 1.05);
    expect(ring).toBeLessThan(3.6);
    const good = honest.filter((_, i) => QUALITY[i]! >= 4);
    for (const score of good) expect(score).toBeGreaterThan(ring);
    // Honest buyers count fully, and the honest ranking follows quality at the extremes.
    expect(honest[0]!).toBeGreaterThan(honest[9]!);
    if (variant.ringBuysHonest) expect(honest[0]!).toBeGreaterThan(3.6); // the ring's 1-star ratings barely move it
  });

  test('the numbers (TRUST_SIM_REPORT=1 prints them, with α from 0.15 to 0.5)', () => {
    const rows: string[] = [];
    for (const teleport of [0.15, 0.3, 0.5]) {
      for (const [name, variant] of variants) {
        const o = outcome(market(variant), { ...TRUST_PARAMETERS, teleport });
        rows.push(`α=${teleport} ${name}: ring seller ${round(o.ring)} (ring weight ${round(o.ringWeight)}); honest ${o.honest.map(round).join(' ')}; mean honest buyer weight ${round(o.honestWeight)}`);
      }
    }
    if (process.env.TRUST_SIM_REPORT) console.log(rows.join('\n'));
    // With α = 0.15 (PageRank's usual value) the funder's credibility is amplified inside the ring.
    const low = outcome(market({ funderBuys: 20 }), { ...TRUST_PARAMETERS, teleport: 0.15 });
    const chosen = outcome(market({ funderBuys: 20 }));
    expect(low.ringWeight).toBeGreaterThan(chosen.ringWeight * 2);
  });

  test('a ring whose members the operator granted as much as honest members is not stopped: outside money is the root of trust', () => {
    const { ring, ringWeight } = outcome(market({ ringGrant: 1000 }));
    expect(ringWeight).toBeGreaterThan(15);
    expect(ring).toBeGreaterThan(4.3);
  });
});

describe('scores', () => {
  const grants = [1, 2, 3, 4].map((account) => ({ account, amount: 100 }));
  const rate = (rater: number, score: number): TrustRating => ({ rater, seller: 9, score });

  test('few ratings stay near 3; many good ones approach their mean', () => {
    expect(trustScores({ purchases: [], ratings: [rate(1, 5)], grants }).sellers.get(9)).toEqual({ score: 20 / 6, ratings: 1, weight: 1, disputesLost: 0 });
    expect(trustScores({ purchases: [], ratings: [rate(1, 1), rate(2, 1)], grants }).sellers.get(9)!.score).toBeCloseTo(17 / 7);
    const many = Array.from({ length: 200 }, (_, i) => ({ account: 1000 + i, amount: 100 }));
    const score = trustScores({ purchases: [], ratings: many.map((g) => rate(g.account, 5)), grants: many }).sellers.get(9)!.score;
    expect(score).toBeGreaterThan(4.9);
  });

  test('one voice per rater: rating the same seller many times counts once, at the mean', () => {
    const once = trustScores({ purchases: [], ratings: [rate(1, 5)], grants }).sellers.get(9)!;
    const often = trustScores({ purchases: [], ratings: [rate(1, 5), rate(1, 5), rate(1, 5), rate(1, 2)], grants }).sellers.get(9)!;
    expect(often.weight).toBe(once.weight);
    expect(often.ratings).toBe(4);
    expect(often.score).toBeCloseTo((15 + 4.25) / 6);
  });

  test('ratings of raters without credibility are not counted', () => {
    const seller = trustScores({ purchases: [], ratings: [rate(77, 5)], grants }).sellers.get(9)!;
    expect(seller).toEqual({ score: PRIOR_MEAN, ratings: 0, weight: 0, disputesLost: 0 });
  });

  test('an upheld dispute lowers the score like two 1-star ratings; a disputed purchase passes no credibility', () => {
    const purchases: TrustPurchase[] = [{ buyer: 1, seller: 9, amount: 50, settled: false, disputed: true }];
    const seller = trustScores({ purchases, ratings: [rate(1, 5), rate(2, 5)], grants }).sellers.get(9)!;
    expect(seller.disputesLost).toBe(1);
    expect(seller.score).toBeCloseTo((15 + 10 + 2) / 9);
    expect(credibility(purchases, grants).get(9) ?? 0).toBe(0);
  });

  test('credibility sums to 1, flows along settled purchases by amount, and a big grant counts as the median one', () => {
    const purchases: TrustPurchase[] = [
      { buyer: 1, seller: 5, amount: 30, settled: true, disputed: false },
      { buyer: 1, seller: 6, amount: 10, settled: true, disputed: false },
      { buyer: 2, seller: 7, amount: 10, settled: false, disputed: false },
    ];
    const t = credibility(purchases, [...grants, { account: 8, amount: 1_000_000 }]);
    expect([...t.values()].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    expect(t.get(5)! / t.get(6)!).toBeCloseTo(3);
    expect(t.get(7) ?? 0).toBe(0);
    expect(t.get(8)!).toBeCloseTo(t.get(3)!);
    expect(credibility(purchases, [])).toEqual(new Map());
  });
});
