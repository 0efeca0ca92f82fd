import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { isUdnsError } from '../protocol/index.js';
import { listenOnPort } from './listen-on-port.js';

const servers: net.Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

describe('listenOnPort', () => {
  test('port 0 binds an ephemeral port and returns it', async () => {
    const server = net.createServer();
    servers.push(server);
    const port = await listenOnPort(server, 0, '--transfer-port');
    expect(port).toBeGreaterThan(0);
    expect((server.address() as net.AddressInfo).port).toBe(port);
  });

  test('a taken port is config_invalid naming the flag and the port', async () => {
    const holder = net.createServer().listen({ port: 0 });
    servers.push(holder);
    await once(holder, 'listening');
    const taken = (holder.address() as net.AddressInfo).port;
    const server = net.createServer();
    servers.push(server);
    const error = await listenOnPort(server, taken, '--receive-port').then(() => null, (e: unknown) => e);
    expect(isUdnsError(error) && error.code).toBe('config_invalid');
    expect((error as Error).message).toBe(`cannot listen on --receive-port ${taken} (EADDRINUSE): pick a free port`);
  });
});
