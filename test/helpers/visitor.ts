import http from 'node:http';
import net from 'node:net';
import { createHash } from 'node:crypto';
import type { TestEdge } from './test-edge.js';

/** A response as a visitor received it. */
export interface VisitorResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Host header a browser would send for `name` on this edge. */
export function hostFor(edge: TestEdge, name: string): string {
  return `${name}.${edge.edge.config.domain}:${edge.edge.httpPort}`;
}

/**
 * Sends one request as a visitor of `<name>.<domain>` would (connecting to the edge's address,
 * with that Host header). `name` null means the apex.
 */
export function visit(
  edge: TestEdge,
  name: string | null,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string; agent?: http.Agent } = {},
): Promise<VisitorResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: edge.edge.httpPort,
      path,
      method: options.method ?? 'GET',
      agent: options.agent ?? false,
      headers: { host: name === null ? `localhost:${edge.edge.httpPort}` : hostFor(edge, name), ...options.headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error('visitor request timed out')));
    req.end(options.body);
  });
}

/** Downloads `path` as a visitor, hashing as it goes; rejects if the body ends short or breaks. */
export function downloadSha256(edge: TestEdge, name: string, path: string): Promise<{ status: number; length: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: edge.edge.httpPort, path, agent: false, headers: { host: hostFor(edge, name) } }, (res) => {
      const hash = createHash('sha256');
      let length = 0;
      res.on('data', (chunk: Buffer) => { hash.update(chunk); length += chunk.length; });
      res.on('end', () => {
        if (!res.complete) reject(new Error('response ended before its end'));
        else resolve({ status: res.statusCode ?? 0, length, sha256: hash.digest('hex') });
      });
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('response aborted')));
    });
    req.on('error', reject);
  });
}

/** Writes `text` on a raw connection to the edge and returns everything read until it closes. */
export function rawExchange(edge: TestEdge, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(edge.edge.httpPort, '127.0.0.1');
    let out = '';
    socket.on('data', (chunk) => { out += chunk; });
    socket.on('close', () => resolve(out));
    socket.on('error', () => resolve(out));
    socket.write(text);
  });
}
