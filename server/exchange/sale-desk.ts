import type { SaleDeclined, SaleOffered } from '../../protocol/index.js';
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js';
import type { TunnelSession } from '../tunnel/tunnel-session.js';
import type { Escrow, SellerLine } from './escrow.js';

/**
 * Where the escrow meets the tunnels: sale messages from sellers' agents go to the escrow, and
 * the escrow's requests go to the tunnel serving the sale's share, only when that tunnel is the
 * seller's own (a name moved to another account is not the seller any more).
 */
export class SaleDesk {
  constructor(private readonly escrow: Pick<Escrow, 'offered' | 'declined' | 'shareListed'>) {}

  /** saleOffered / saleDeclined from an agent. Never throws (a bad message fails only its sale). */
  message(tunnel: TunnelSession, message: SaleOffered | SaleDeclined): void {
    const from = { accountId: tunnel.account.id };
    if (message.type === 'saleOffered') void this.escrow.offered(from, message);
    else void this.escrow.declined(from, message);
  }

  /** The agent listed share `label` on `tunnel`: re-send its open sale requests. */
  shareListed(tunnel: TunnelSession, label: string): void {
    void this.escrow.shareListed(tunnel.account.id, label);
  }
}

/** The live tunnel of `sellerId` serving `label`, as the escrow talks to it; null when none. */
export function sellerLine(registry: Pick<TunnelRegistry, 'lookupHttp'>, label: string, sellerId: number): SellerLine | null {
  const entry = registry.lookupHttp(label);
  if (entry === undefined || entry.tunnel.account.id !== sellerId) return null;
  return { routeId: entry.routeId, send: (message) => entry.tunnel.sendSale(message) };
}
