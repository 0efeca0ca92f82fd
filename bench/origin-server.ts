/*
 * The origin every benchmark path reaches: a minimal node:http server, run as its own process
 * by origin.ts. GET /1k answers 1 KiB; GET /download?bytes=N streams N bytes from one reused
 * buffer, honouring backpressure, so nothing is buffered whatever N is; POST /upload counts the
 * body's bytes, throws them away and answers the count as text. It prints
 * `origin listening on <port>` and exits when its stdin closes (the benchmark went away).
 */
import http from 'node:http';
import { exitWithParent } from './exit-with-parent.js';

const SMALL_BODY = Buffer.alloc(1024, 'x');
const CHUNK = Buffer.alloc(256 * 1024, 'y');
/** Largest download served: far above any sensible benchmark size, below Number precision. */
const MAX_DOWNLOAD_BYTES = 2 ** 40;

function streamBytes(res: http.ServerResponse, total: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
  let left = total;
  const pump = (): void => {
    while (left > 0) {
      if (res.destroyed) return;
      const size = Math.min(left, CHUNK.length);
      left -= size;
      if (!res.write(size === CHUNK.length ? CHUNK : CHUNK.subarray(0, size))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

const server = http.createServer({ keepAliveTimeout: 60_000, requestTimeout: 0 }, (req, res) => {
  const url = new URL(req.url ?? '/', 'http://origin');
  if (req.method === 'GET' && url.pathname === '/1k') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': SMALL_BODY.length });
    res.end(SMALL_BODY);
    return;
  }
  const bytes = Number(url.searchParams.get('bytes'));
  if (req.method === 'GET' && url.pathname === '/download' && Number.isSafeInteger(bytes) && bytes >= 0 && bytes <= MAX_DOWNLOAD_BYTES) {
    streamBytes(res, bytes);
    return;
  }
  if (req.method === 'POST' && url.pathname === '/upload') {
    let received = 0;
    req.on('data', (chunk: Buffer) => { received += chunk.length; });
    // A client giving up mid-upload is the client's result to report, not the origin's problem.
    req.on('error', () => {});
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`${received}\n`);
    });
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('try GET /1k, GET /download?bytes=N or POST /upload\n');
});
// A benchmark client hanging up mid-download is expected; it must not crash the origin.
server.on('clientError', (_error, socket) => socket.destroy());

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (typeof address === 'object' && address) process.stdout.write(`origin listening on ${address.port}\n`);
});

exitWithParent();
