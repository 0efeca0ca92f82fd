import { randomInt } from 'node:crypto';

/**
 * A small seeded PRNG (mulberry32) for randomised tests: every choice of a run follows from
 * one seed, printed so a failing run can be replayed with that seed.
 */
export class SeededRandom {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A seed from `value` (a decimal string, e.g. an env var) or a fresh random one. */
  static fromEnv(value: string | undefined): SeededRandom {
    const parsed = value === undefined || value === '' ? Number.NaN : Number(value);
    return new SeededRandom(Number.isInteger(parsed) ? parsed : randomInt(2 ** 31));
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** `length` bytes that follow from the seed (cheap: one draw per 4 bytes). */
  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    let i = 0;
    for (; i + 4 <= length; i += 4) out.writeUInt32LE(Math.floor(this.next() * 4294967296), i);
    for (; i < length; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }
}
