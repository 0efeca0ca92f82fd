import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, test } from 'vitest';
import { TransferGrant, TransferTicket, newTicketSecrets, pskClientOptions, pskServerOptions } from './transfer.js';

/** A TLS-PSK server that knows one ticket and echoes "ok <protocol> <cipher>". */
async function server(ticketId: string, psk: string): Promise<{ port: number; close(): void }> {
  const srv = tls.createServer(pskServerOptions((identity) => (identity === ticketId ? Buffer.from(psk, 'hex') : null)), (socket) => {
    socket.end(`ok ${socket.getProtocol()} ${socket.getCipher().name}`);
  });
  srv.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

function connect(port: number, ticketId: string, psk: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...pskClientOptions(ticketId, psk) });
    let text = '';
    socket.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    // The key exchange tells psk_dhe_ke (forward secret) from psk_ke: X25519 on top of the PSK.
    socket.on('end', () => resolve(`${text} ${(socket.getEphemeralKeyInfo() as { name?: string } | null)?.name ?? 'no ECDHE'}`));
    socket.on('error', reject);
  });
}

describe('TLS-PSK of the transfer paths (Node 20)', () => {
  const servers: Array<{ close(): void }> = [];
  afterEach(() => { for (const s of servers.splice(0)) s.close(); });

  test('the right ticket and key: TLS 1.3, ChaCha20-Poly1305, an X25519 exchange on top of the PSK (forward secret), no certificate anywhere', async () => {
    const { ticketId, psk } = newTicketSecrets();
    const srv = await server(ticketId, psk);
    servers.push(srv);
    expect(await connect(srv.port, ticketId, psk)).toBe('ok TLSv1.3 TLS_CHACHA20_POLY1305_SHA256 X25519');
  });

  test('a wrong key or an unknown ticket id fails the handshake', async () => {
    const { ticketId, psk } = newTicketSecrets();
    const srv = await server(ticketId, psk);
    servers.push(srv);
    await expect(connect(srv.port, ticketId, newTicketSecrets().psk)).rejects.toThrow(/ERR_SSL|alert/i);
    await expect(connect(srv.port, newTicketSecrets().ticketId, psk)).rejects.toThrow(/ERR_SSL|alert/i);
  });

  test('a resumed session (TLS 1.3 session ticket) cannot open a second connection', async () => {
    const { ticketId, psk } = newTicketSecrets();
    const srv = await server(ticketId, psk);
    servers.push(srv);
    const session = await new Promise<Buffer | undefined>((resolve, reject) => {
      let saved: Buffer | undefined;
      const socket = tls.connect({ host: '127.0.0.1', port: srv.port, ...pskClientOptions(ticketId, psk) });
      socket.on('session', (value: Buffer) => { saved = value; });
      socket.on('data', () => undefined);
      socket.on('end', () => setTimeout(() => resolve(saved), 50));
      socket.on('error', reject);
    });
    const forged = newTicketSecrets();
    const second = new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: srv.port, ...pskClientOptions(forged.ticketId, forged.psk), ...(session ? { session } : {}) });
      socket.on('secureConnect', () => { resolve(`accepted, reused ${socket.isSessionReused()}`); socket.destroy(); });
      socket.on('error', reject);
    });
    await expect(second).rejects.toThrow(/ERR_SSL|alert/i);
  });

  test('tickets and grants are checked strictly: hex lengths, absolute paths, known paths only', () => {
    const { ticketId, psk } = newTicketSecrets();
    const ticket = { type: 'transferTicket', ticketId, psk, routeId: 'r', path: '/a.txt', mode: 'direct', expiresAt: 1, holder: 'ab'.repeat(16) };
    expect(TransferTicket.safeParse({ ...ticket, holder: 'me' }).success).toBe(false);
    expect(TransferTicket.safeParse(ticket).success).toBe(true);
    expect(TransferTicket.safeParse({ ...ticket, path: 'a.txt' }).success).toBe(false);
    expect(TransferTicket.safeParse({ ...ticket, psk: psk.slice(2) }).success).toBe(false);
    expect(TransferTicket.safeParse({ ...ticket, mode: 'relay' }).success).toBe(false);
    expect(TransferGrant.safeParse({ via: 'relay' }).success).toBe(true);
    expect(TransferGrant.safeParse({ via: 'direct', ticketId, psk, expiresAt: 1 }).success).toBe(false);
  });
});
