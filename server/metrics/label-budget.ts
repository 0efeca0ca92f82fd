/** The label value every value past the budget is counted under. */
export const OTHER_LABEL = 'other';

/**
 * A bounded set of label values (account or name): the first `max` distinct values seen keep
 * their own label for the life of the process, every later one is counted under `other`.
 * Sticky rather than "top N by bytes": a Prometheus counter must only grow, and a value moving
 * in and out of a top-N would make both its series and `other` jump back.
 */
export class LabelBudget {
  private readonly given = new Set<string>();

  constructor(readonly max: number) {}

  /** The label to count `value` under. */
  labelFor(value: string): string {
    if (this.given.has(value)) return value;
    if (this.given.size < this.max && value !== OTHER_LABEL) {
      this.given.add(value);
      return value;
    }
    return OTHER_LABEL;
  }

  get size(): number {
    return this.given.size;
  }
}

/** Label values one byte metric may have for accounts and for names by default. */
export const DEFAULT_METRICS_MAX_NAMES = 100;
