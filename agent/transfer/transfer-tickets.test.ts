import { describe, expect, test } from 'vitest';
import { newTicketSecrets, type TransferTicket } from '../../protocol/index.js';
import { TicketBook } from './transfer-tickets.js';

function ticket(mode: 'direct' | 'push', expiresAt: number): TransferTicket {
  return { type: 'transferTicket', ...newTicketSecrets(), routeId: 'r1', path: '/a.txt', mode, expiresAt };
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
    const push = ticket('push', 2000);
    book.arm(direct);
    book.arm(push);
    expect(book.take(push.ticketId, {}, 'direct')).toBeNull();
    expect(book.take(newTicketSecrets().ticketId, {}, 'direct')).toBeNull();
    now = 2000;
    expect(book.take(direct.ticketId, {}, 'direct')).toBeNull();
    expect(book.size).toBe(1);
  });

  test('expired unused tickets are swept when new ones arrive', () => {
    let now = 0;
    const book = new TicketBook(() => now);
    for (let i = 0; i < 100; i++) book.arm(ticket('direct', 10));
    now = 11;
    book.arm(ticket('direct', 100));
    expect(book.size).toBe(1);
  });

  test('pending tickets are counted per route until used or expired', () => {
    let now = 0;
    const book = new TicketBook(() => now);
    const a = ticket('direct', 10);
    const b = ticket('push', 10);
    book.arm(a);
    book.arm(b);
    book.arm({ ...ticket('direct', 10), routeId: 'r2' });
    expect(book.pendingFor('r1')).toBe(2);
    book.take(a.ticketId, {}, 'direct');
    expect(book.pendingFor('r1')).toBe(1);
    now = 10;
    expect(book.pendingFor('r1')).toBe(0);
  });
});
