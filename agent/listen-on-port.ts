import { once } from 'node:events';
import type net from 'node:net';
import { UdnsError } from '../protocol/index.js';

/**
 * Binds `server` on `port` (0: an ephemeral one) of every interface, for the ports a user picks
 * with a flag (`--direct-port`, `--transfer-port`, `udns get --receive-port`), and returns the
 * bound port.
 * @throws UdnsError `config_invalid` naming the flag when the port is taken or not allowed
 */
export async function listenOnPort(server: net.Server, port: number, flag: string): Promise<number> {
  server.listen({ port });
  try {
    await once(server, 'listening');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new UdnsError('config_invalid', `cannot listen on ${flag} ${port} (${code}): pick a free port`, { cause: error });
  }
  return (server.address() as net.AddressInfo).port;
}
