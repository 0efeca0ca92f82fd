/*
 * The share benchmark's baseline: the same folder served by a plain, well-tuned Node static
 * file server (express 5 + `express.static`, which is `send` underneath, as the share is) on
 * loopback, as its own process. `node static-server.js <dir>` prints
 * `static listening on <port>` and exits when its stdin closes (the benchmark went away).
 */
import express from 'express';
import { exitWithParent } from '../exit-with-parent.js';

const root = process.argv[2];
if (!root) {
  process.stderr.write('usage: static-server <dir>\n');
  process.exit(2);
}

const app = express();
app.disable('x-powered-by');
app.use(express.static(root, { etag: true, lastModified: true, acceptRanges: true, maxAge: 0, index: false }));

const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (typeof address === 'object' && address) process.stdout.write(`static listening on ${address.port}\n`);
});
server.keepAliveTimeout = 60_000;
server.requestTimeout = 0;
// A benchmark client hanging up mid-download is expected; it must not crash the baseline.
server.on('clientError', (_error, socket) => socket.destroy());

exitWithParent();
