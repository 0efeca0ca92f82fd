import { MAX_TRANSFERS_PER_RECEIVER, MAX_TRANSFERS_PER_SHARE } from '../../protocol/index.js';

/**
 * The direct and push connections each share has open, in total and per holder (the receiver's
 * account, as the edge names it in tickets). A connection holds its slot from its handshake
 * (direct) or dial (push) until it closes. Counts are removed at zero, so memory follows the
 * open connections.
 */
export class TransferSlots<Share extends object> {
  private readonly open = new Map<Share, { total: number; byHolder: Map<string, number> }>();

  /** Whether a connection of `holder` to `share` would get a slot now. */
  admits(share: Share, holder: string): boolean {
    const counts = this.open.get(share);
    if (counts === undefined) return true;
    return counts.total < MAX_TRANSFERS_PER_SHARE && (counts.byHolder.get(holder) ?? 0) < MAX_TRANSFERS_PER_RECEIVER;
  }

  /** Takes a slot: its release (idempotent), or null when the share or the holder is full. */
  claim(share: Share, holder: string): (() => void) | null {
    if (!this.admits(share, holder)) return null;
    let counts = this.open.get(share);
    if (counts === undefined) {
      counts = { total: 0, byHolder: new Map() };
      this.open.set(share, counts);
    }
    counts.total++;
    counts.byHolder.set(holder, (counts.byHolder.get(holder) ?? 0) + 1);
    let released = false;
    const held = counts;
    return () => {
      if (released) return;
      released = true;
      held.total--;
      const left = (held.byHolder.get(holder) ?? 1) - 1;
      if (left > 0) held.byHolder.set(holder, left);
      else held.byHolder.delete(holder);
      if (held.total <= 0 && this.open.get(share) === held) this.open.delete(share);
    };
  }

  /** Connections open to `share`. */
  count(share: Share): number {
    return this.open.get(share)?.total ?? 0;
  }
}
