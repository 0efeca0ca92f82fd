// Test support: the edge's JSON API, its dyndns2 endpoint and its DNS, as real clients use them.
import { execFile } from 'node:child_process';
import http from 'node:http';
import { promisify } from 'node:util';
import type { TestEdge } from './test-edge.js';

const run = promisify(execFile);

/** An API answer: status and parsed JSON body. */
export interface ApiAnswer {
  status: number;
  // Tests read arbitrary fields; the shape is what the assertions check.
  body: any;
}

/** Calls `/api/v1<path>` with a bearer token (none when `token` is null). */
export async function apiCall(edge: TestEdge, token: string | null, method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${edge.serverUrl}/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/**
 * Sends `GET /nic/update?<query>` with Basic auth (none when `auth` is null). Uses node:http
 * rather than fetch, which would not send a Host header of ours.
 */
export function dyndnsUpdate(
  edge: TestEdge,
  query: string,
  auth: { user: string; password: string } | null,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  const all: Record<string, string> = { ...headers };
  if (auth !== null) all.authorization = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: edge.edge.httpPort, path: `/nic/update?${query}`, headers: all, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** What `dig` got: the response code and the answer records as `name ttl IN type data`. */
export interface DigResult {
  status: string;
  answers: string[];
}

/** Asks the edge's DNS over UDP with the real `dig`. */
export async function dig(edge: TestEdge, name: string, type: string): Promise<DigResult> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(edge.edge.dnsUdpPort), name, type, '+noall', '+answer', '+comments', '+time=2', '+tries=1']);
  const status = /status: ([A-Z]+)/.exec(stdout)?.[1] ?? 'none';
  const answers = stdout.split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith(';'))
    .map((line) => line.trim().split(/\s+/).join(' '));
  return { status, answers };
}
