/** Bytes of one name since the edge started. */
export interface TrafficEntry {
  readonly account: string;
  readonly name: string;
  bytesIn: number;
  bytesOut: number;
}

/**
 * Bytes per (account, name) since start, kept by the metrics until QUOTAS's TrafficMeter
 * (server/traffic/traffic-meter.ts) is the one source: same `add` shape. The entry is handed out
 * so a connection adds to it per chunk without a map look-up.
 */
export class TrafficCounts {
  private readonly entries = new Map<string, TrafficEntry>();

  entry(account: string, name: string): TrafficEntry {
    const key = `${account}\u0000${name}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { account, name, bytesIn: 0, bytesOut: 0 };
      this.entries.set(key, entry);
    }
    return entry;
  }

  add(account: string, name: string, bytesIn: number, bytesOut: number): void {
    const entry = this.entry(account, name);
    entry.bytesIn += bytesIn;
    entry.bytesOut += bytesOut;
  }

  snapshot(): readonly TrafficEntry[] {
    return [...this.entries.values()];
  }
}
