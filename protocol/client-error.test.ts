import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { describe, expect, test } from 'vitest';
import { clientErrorLogFields } from './client-error.js';

describe('clientErrorLogFields', () => {
  test('a real parse error of node:http gives its code and message, never the raw bytes it carries', async () => {
    const server = http.createServer();
    const errors = once(server, 'clientError') as Promise<[NodeJS.ErrnoException, net.Socket]>;
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    client.on('error', () => {});
    client.write('G\x01T / HTTP/1.1\r\nAuthorization: Basic c2VjcmV0\r\n\r\n');
    const [error, socket] = await errors;
    socket.destroy();
    client.destroy();
    server.close();
    expect((error as { rawPacket?: Buffer }).rawPacket?.toString('latin1')).toContain('c2VjcmV0');
    const fields = clientErrorLogFields(error);
    expect(fields).toEqual({ code: error.code, reason: error.message });
    expect(fields.code).toMatch(/^HPE_/);
    expect(JSON.stringify(fields)).not.toContain('c2VjcmV0');
  });
});
