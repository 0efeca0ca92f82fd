import {
  MAX_ARMED_TICKETS_PER_RECEIVER,
  MAX_ARMED_TICKETS_PER_SHARE,
  type TransferTicket,
} from '../../protocol/index.js';

/** A direct ticket the edge handed this agent, until its one connection uses it or it expires. */
export interface ArmedTicket {
  readonly ticket: TransferTicket;
  readonly psk: Buffer;
  /** The connection whose handshake took it (TLS 1.3 may ask for the key twice in one handshake). */
  usedBy: object | null;
}

/** What became of a ticket given to {@link TicketBook.arm}. */
export interface ArmOutcome {
  /** False when the share already holds MAX_ARMED_TICKETS_PER_SHARE unused tickets. */
  readonly armed: boolean;
  /** Ids of the holder's older unused tickets this one replaced (now refused). */
  readonly replaced: string[];
}

/**
 * A used ticket whose handshake has not finished is kept this long past its expiry (the TLS
 * server's own handshake timeout ends the connection first), then forgotten.
 */
const USED_TICKET_GRACE_MS = 15_000;

/**
 * The agent's live direct tickets. Each opens exactly one TLS connection: the first handshake
 * that names it takes it, whether or not the key then matches, so a replayed or guessed id is
 * refused even with the right key. Unused tickets are bounded per holder (the receiver's
 * account) and per share, so the book stays small and one receiver cannot crowd out others;
 * expired tickets are dropped as they are looked at and on every arm.
 */
export class TicketBook {
  /** In arrival order: the first of a holder's is its oldest. */
  private readonly tickets = new Map<string, ArmedTicket>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Arms `ticket` unless its share is full of unused tickets. The holder's unused ticket for the
   * same file is replaced (a retry or the next attempt of one download), and beyond
   * MAX_ARMED_TICKETS_PER_RECEIVER its oldest: a receiver only ever displaces its own tickets.
   */
  arm(ticket: TransferTicket): ArmOutcome {
    this.sweep();
    const replaced: string[] = [];
    const mine: string[] = [];
    let share = 0;
    for (const [id, armed] of this.tickets) {
      if (armed.usedBy !== null || armed.ticket.routeId !== ticket.routeId) continue;
      if (armed.ticket.holder !== ticket.holder) {
        share++;
      } else if (armed.ticket.path === ticket.path) {
        replaced.push(id);
      } else {
        mine.push(id);
      }
    }
    while (mine.length >= MAX_ARMED_TICKETS_PER_RECEIVER) replaced.push(mine.shift()!);
    if (share + mine.length >= MAX_ARMED_TICKETS_PER_SHARE) return { armed: false, replaced: [] };
    for (const id of replaced) this.tickets.delete(id);
    this.tickets.set(ticket.ticketId, { ticket, psk: Buffer.from(ticket.psk, 'hex'), usedBy: null });
    return { armed: true, replaced };
  }

  /**
   * The ticket `identity` on `connection`, marking it used by it; null for an unknown, expired,
   * other-mode or already used ticket (the handshake then fails).
   */
  take(identity: string, connection: object, mode: TransferTicket['mode']): ArmedTicket | null {
    const armed = this.tickets.get(identity);
    if (armed === undefined || armed.ticket.mode !== mode) return null;
    if (armed.ticket.expiresAt <= this.now()) {
      if (armed.usedBy === null) this.tickets.delete(identity);
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

  /** Forgets a ticket (its connection was served, refused or closed). */
  drop(ticketId: string): void {
    this.tickets.delete(ticketId);
  }

  get size(): number {
    return this.tickets.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, armed] of this.tickets) {
      const until = armed.ticket.expiresAt + (armed.usedBy === null ? 0 : USED_TICKET_GRACE_MS);
      if (until <= now) this.tickets.delete(id);
    }
  }
}
