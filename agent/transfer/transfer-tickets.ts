import type { TransferTicket } from '../../protocol/index.js';

/** A ticket the edge handed this agent, until its one connection uses it or it expires. */
export interface ArmedTicket {
  readonly ticket: TransferTicket;
  readonly psk: Buffer;
  /** The connection whose handshake took it (TLS 1.3 may ask for the key twice in one handshake). */
  usedBy: object | null;
}

/**
 * The agent's live tickets. Each opens exactly one TLS connection: the first handshake that
 * names it takes it, whether or not the key then matches, so a replayed or guessed id is
 * refused even with the right key. Expired tickets are dropped as they are looked at and on
 * every arm, so the book stays as small as the edge's ticket rate.
 */
export class TicketBook {
  private readonly tickets = new Map<string, ArmedTicket>();

  constructor(private readonly now: () => number = Date.now) {}

  arm(ticket: TransferTicket): void {
    this.sweep();
    this.tickets.set(ticket.ticketId, { ticket, psk: Buffer.from(ticket.psk, 'hex'), usedBy: null });
  }

  /**
   * The key for `identity` on `connection`, marking the ticket used by it; null for an unknown,
   * expired, other-mode or already used ticket (the handshake then fails).
   */
  take(identity: string, connection: object, mode: TransferTicket['mode']): ArmedTicket | null {
    const armed = this.tickets.get(identity);
    if (armed === undefined || armed.ticket.mode !== mode) return null;
    if (armed.ticket.expiresAt <= this.now()) {
      this.tickets.delete(identity);
      return null;
    }
    if (armed.usedBy !== null && armed.usedBy !== connection) return null;
    armed.usedBy = connection;
    return armed;
  }

  /** The ticket a connection took, if any. */
  usedBy(connection: object): ArmedTicket | undefined {
    for (const armed of this.tickets.values()) if (armed.usedBy === connection) return armed;
    return undefined;
  }

  /** Forgets a ticket (used up, or its push failed). */
  drop(ticketId: string): void {
    this.tickets.delete(ticketId);
  }

  /** Live tickets of one route not yet used: connections that may still come. */
  pendingFor(routeId: string): number {
    const now = this.now();
    let count = 0;
    for (const armed of this.tickets.values()) {
      if (armed.ticket.routeId === routeId && armed.usedBy === null && armed.ticket.expiresAt > now) count++;
    }
    return count;
  }

  get size(): number {
    return this.tickets.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, armed] of this.tickets) {
      if (armed.ticket.expiresAt <= now && armed.usedBy === null) this.tickets.delete(id);
    }
  }
}
