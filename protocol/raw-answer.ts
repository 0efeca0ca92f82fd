import { STATUS_CODES } from 'node:http';

/**
 * A complete HTTP/1.1 response that closes the connection, for the places that answer on a raw
 * socket before (or instead of) any HTTP server: the edge's front door, the tunnel endpoint, the
 * agent's route handlers. Always framed by Content-Length, so a client never mistakes a cut
 * connection for the end of the body.
 */
export function rawHttpAnswer(status: number, body = '', headers: Record<string, string | number> = {}): Buffer {
  const payload = Buffer.from(body);
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  head += `Content-Length: ${payload.length}\r\nConnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), payload]);
}
