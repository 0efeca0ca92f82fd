/** Owner (relative to the apex) where ACME DNS-01 looks for the zone's TXT values (RFC 8555 §8.4). */
export const CHALLENGE_OWNER = '_acme-challenge';
/** TTL of challenge TXT records: short, since each lives only for one validation. */
export const CHALLENGE_TTL = 10;

/**
 * The edge's own pending DNS-01 values at `_acme-challenge.<domain>`. Kept apart from members'
 * records because the apex is no member's name; a wildcard plus apex order needs two values at
 * the same owner at once, so values are counted rather than replaced.
 */
export class ChallengeRecords {
  readonly #values = new Map<string, number>();

  add(value: string): void {
    this.#values.set(value, (this.#values.get(value) ?? 0) + 1);
  }

  remove(value: string): void {
    const count = this.#values.get(value) ?? 0;
    if (count <= 1) this.#values.delete(value);
    else this.#values.set(value, count - 1);
  }

  /** TXT records at a relative owner, in the shape ZoneView.recordsAt returns. */
  recordsAt(owner: string): readonly { type: 'TXT'; value: string; ttl: number }[] {
    if (owner !== CHALLENGE_OWNER) return [];
    return [...this.#values.keys()].map((value) => ({ type: 'TXT' as const, value, ttl: CHALLENGE_TTL }));
  }
}
