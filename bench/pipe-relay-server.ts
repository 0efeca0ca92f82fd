/*
 * The "two Node pipes" path's relay (bench/pipe-relays.ts), as its own process: every accepted
 * connection gets its own connection to the target, and the two are piped both ways, with no
 * parsing, no headers, no multiplexing and no limits. Two of these in a row are the cheapest
 * two-process path Node can make: the floor a tunnel written in Node is measured against.
 * Arguments: <targetPort>. Prints `pipe relay listening on <port>` and exits when its stdin closes.
 */
import net from 'node:net';
import { exitWithParent } from './exit-with-parent.js';

const targetPort = Number(process.argv[2]);
if (!Number.isInteger(targetPort) || targetPort <= 0 || targetPort > 65535) {
  process.stderr.write('usage: pipe-relay-server.js <targetPort>\n');
  process.exit(2);
}

const server = net.createServer((visitor) => {
  const upstream = net.connect({ host: '127.0.0.1', port: targetPort, noDelay: true });
  visitor.setNoDelay(true);
  visitor.pipe(upstream).pipe(visitor);
  visitor.on('error', () => upstream.destroy());
  upstream.on('error', () => visitor.destroy());
  // The visitor gone, nothing can reach it; the origin gone, what it sent must still reach the
  // visitor: end, not destroy (a destroy dropped the last ~10 KB of a download still queued).
  visitor.on('close', () => upstream.destroy());
  upstream.on('close', () => visitor.end());
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`pipe relay listening on ${(server.address() as net.AddressInfo).port}\n`);
});
exitWithParent();
