/** How often, at most, a local service that keeps failing is reported again. */
export const LOCAL_PORT_NOTICE_INTERVAL_MS = 60_000;

/**
 * Tells the person running the agent that the local service a route forwards to does not
 * answer: the first failure at once, then at most once a minute while it goes on (with how many
 * connections failed meanwhile), and once when it answers again. Before, only the visitor saw
 * the 502 page; the agent's own terminal stayed silent (its logger is silent by default).
 * `report` gets one line without the `udns: ` prefix; the CLI prints it on stderr.
 */
export class LocalPortNotice {
  private failing = false;
  private lastReportAt = 0;
  private failedSinceReport = 0;

  /** @param what what runs at the route's target, for the hint: `app`, `service` */
  constructor(
    private readonly what: string,
    private readonly report: (line: string) => void,
    private readonly now: () => number = () => performance.now(),
    private readonly intervalMs = LOCAL_PORT_NOTICE_INTERVAL_MS,
  ) {}

  /**
   * A connection to the local service at `target` (as printed: `http://127.0.0.1:3000`) failed
   * before it was established (`code`: ECONNREFUSED…).
   */
  failed(target: string, code: string | undefined): void {
    const now = this.now();
    if (this.failing && now - this.lastReportAt < this.intervalMs) {
      this.failedSinceReport++;
      return;
    }
    const since = this.failing ? `; ${this.failedSinceReport + 1} connections failed since the last notice` : '';
    this.failing = true;
    this.lastReportAt = now;
    this.failedSinceReport = 0;
    this.report(code === 'ECONNREFUSED'
      ? `${target} refused the connection (is your ${this.what} running?)${since}`
      : `${target} could not be reached (${code ?? 'unknown error'})${since}`);
  }

  /** A connection to the local service at `target` was established. */
  connected(target: string): void {
    if (!this.failing) return;
    this.failing = false;
    this.failedSinceReport = 0;
    this.report(`${target} answers again`);
  }
}
