import { describe, expect, test } from 'vitest';
import { MAX_ARMED_TICKETS_PER_RECEIVER, MAX_ARMED_TICKETS_PER_SHARE, newTicketSecrets, type TransferTicket } from '../../protocol/index.js';
import { TicketBook } from './transfer-tickets.js';

const ALICE = 'a1'.repeat(16);
const BOB = 'b0'.repeat(16);

function ticket(mode: 'direct' | 'push', expiresAt: number, extra: Partial<TransferTicket> = {}): TransferTicket {
  return { type: 'transferTicket', ...newTicketSecrets(), routeId: 'r1', path: '/a.txt', mode, expiresAt, holder: ALICE, ...extra };
}

describe('TicketBook', () => {
  test('a ticket opens one connection only: a second connection naming it gets no key', () => {
    const book = new TicketBook(() => 1000);
    const armed = ticket('direct', 2000);
    book.arm(armed);
    const first = {};
    expect(book.take(armed.ticketId, first, 'direct')?.psk.toString('hex')).toBe(armed.psk);
    // TLS 1.3 may ask twice within the same handshake.
    expect(book.take(armed.ticketId, first, 'direct')).not.toBeNull();
    expect(book.take(armed.ticketId, {}, 'direct')).toBeNull();
    expect(book.usedBy(first)?.ticket.ticketId).toBe(armed.ticketId);
  });

  test('an expired ticket, an unknown id and a ticket of the other mode are refused', () => {
    let now = 1000;
    const book = new TicketBook(() => now);
    const direct = ticket('direct', 2000);
    const push = ticket('push', 2000, { path: '/b.txt' });
    book.arm(direct);
    book.arm(push);
    expect(book.take(push.ticketId, {}, 'direct')).toBeNull();
    expect(book.take(newTicketSecrets().ticketId, {}, 'direct')).toBeNull();
    now = 2000;
    expect(book.take(direct.ticketId, {}, 'direct')).toBeNull();
    expect(book.size).toBe(1);
  });

  test('expired tickets are swept when new ones arrive, used ones too once their handshake could no longer be running', () => {
    let now = 0;
    const book = new TicketBook(() => now);
    for (let i = 0; i < 100; i++) book.arm(ticket('direct', 10, { holder: i.toString(16).padStart(32, '0') }));
    const used = ticket('direct', 10, { path: '/used.txt' });
    book.arm(used);
    book.take(used.ticketId, {}, 'direct');
    now = 11;
    book.arm(ticket('direct', 100));
    expect(book.size).toBe(2);
    now = 10 + 15_000;
    book.arm(ticket('direct', 100_000));
    expect(book.size).toBe(1);
  });

  test('regression: one receiver holds at most MAX_ARMED_TICKETS_PER_RECEIVER unused tickets per share; a new one replaces its ticket for the same file, else its oldest', () => {
    const book = new TicketBook(() => 0);
    const first = ticket('direct', 10, { path: '/1' });
    const again = ticket('direct', 10, { path: '/1' });
    expect(book.arm(first)).toEqual({ armed: true, replaced: [] });
    expect(book.arm(again)).toEqual({ armed: true, replaced: [first.ticketId] });
    expect(book.take(first.ticketId, {}, 'direct')).toBeNull();
    const mine = [again];
    for (let i = 2; i <= 12; i++) {
      const next = ticket('direct', 10, { path: `/${i}` });
      book.arm(next);
      mine.push(next);
    }
    expect(book.size).toBe(MAX_ARMED_TICKETS_PER_RECEIVER);
    // Bob's ticket is untouched by Alice's, and Alice's newest still work.
    const bob = ticket('direct', 10, { holder: BOB });
    expect(book.arm(bob).replaced).toEqual([]);
    expect(book.take(bob.ticketId, {}, 'direct')).not.toBeNull();
    const connection = {};
    expect(book.take(mine.at(-1)!.ticketId, connection, 'direct')).not.toBeNull();
    expect(book.take(mine[0]!.ticketId, {}, 'direct')).toBeNull();
    // A used ticket belongs to its connection, not to the armed ones: it is never replaced.
    for (let i = 0; i < 10; i++) book.arm(ticket('direct', 10, { path: `/more${i}` }));
    expect(book.usedBy(connection)?.ticket.ticketId).toBe(mine.at(-1)!.ticketId);
  });

  test('a share holds at most MAX_ARMED_TICKETS_PER_SHARE unused tickets of all receivers; other shares are apart', () => {
    const book = new TicketBook(() => 0);
    for (let i = 0; i < MAX_ARMED_TICKETS_PER_SHARE; i++) {
      expect(book.arm(ticket('direct', 10, { holder: i.toString(16).padStart(32, '0') })).armed).toBe(true);
    }
    const late = ticket('direct', 10, { holder: BOB });
    expect(book.arm(late)).toEqual({ armed: false, replaced: [] });
    expect(book.take(late.ticketId, {}, 'direct')).toBeNull();
    expect(book.arm(ticket('direct', 10, { holder: BOB, routeId: 'r2' })).armed).toBe(true);
    // A holder already in the book may still replace its own ticket.
    expect(book.arm(ticket('direct', 10, { holder: '0'.repeat(32) })).armed).toBe(true);
  });
});
