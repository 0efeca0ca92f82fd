import net from 'node:net';
import { once } from 'node:events';

/**
 * Both ends of one real TCP connection on loopback; `cleanups` gets what destroys them (run it
 * in afterEach).
 */
export async function socketPair(cleanups: (() => void)[]): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const client = net.connect(port, '127.0.0.1');
  const [serverSide] = await accepted;
  await once(client, 'connect').catch(() => undefined);
  server.close();
  cleanups.push(() => {
    client.destroy();
    serverSide.destroy();
  });
  return [client, serverSide];
}
