import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { WebSocketServer } from 'ws';

/** A local service started for a test, on an ephemeral port. */
export interface Origin {
  port: number;
  close(): Promise<void>;
}

/**
 * The "home PC's web app": GET /echo answers the request it saw as JSON; GET /bytes/<n> streams n
 * deterministic bytes; POST /upload answers the body's length and SHA-256; /ws echoes WebSocket
 * messages; GET /hang never answers.
 */
export async function startHttpOrigin(): Promise<Origin & { bytesWritten(): number }> {
  let bytesWritten = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://origin');
    if (url.pathname === '/echo') {
      const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    } else if (url.pathname.startsWith('/bytes/')) {
      streamBytes(res, Number(url.pathname.slice('/bytes/'.length)), (n) => { bytesWritten += n; });
    } else if (url.pathname === '/upload' && req.method === 'POST') {
      const hash = createHash('sha256');
      let length = 0;
      req.on('data', (chunk: Buffer) => { hash.update(chunk); length += chunk.length; });
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ length, sha256: hash.digest('hex') })));
    } else if (url.pathname === '/hang') {
      // never answers
    } else {
      res.writeHead(404).end('origin: not found');
    }
  });
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    bytesWritten: () => bytesWritten,
    close: async () => {
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The n bytes /bytes/<n> sends: a repeating pattern, so a receiver can hash what it expects. */
export function patternBytes(offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (offset + i) % 251;
  return out;
}

/** SHA-256 of the first n pattern bytes. */
export function patternSha256(n: number): string {
  const hash = createHash('sha256');
  const chunk = 1024 * 1024;
  for (let offset = 0; offset < n; offset += chunk) hash.update(patternBytes(offset, Math.min(chunk, n - offset)));
  return hash.digest('hex');
}

function streamBytes(res: http.ServerResponse, total: number, counted: (n: number) => void): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
  const chunkSize = 251 * 256; // a multiple of the pattern period, so one chunk serves every offset
  const chunk = patternBytes(0, chunkSize);
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      const n = Math.min(chunkSize, total - sent);
      sent += n;
      counted(n);
      if (!res.write(n === chunkSize ? chunk : chunk.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  res.on('close', () => res.off('drain', pump));
  pump();
}

/** A TCP echo server (for tcp routes). */
export async function startTcpEcho(): Promise<Origin> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A free port on 127.0.0.1: bound, then closed, so nothing listens there (until someone binds it). */
export async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
