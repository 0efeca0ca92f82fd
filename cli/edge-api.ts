import http from 'node:http';
import https from 'node:https';
import { ERROR_CODES, UdnsError, type ErrorCode } from '../protocol/index.js';
import type { EdgeTarget } from './client-config.js';

/** The edge's answer to GET /api/v1/me. */
export interface MeResponse {
  account: string;
  names: Array<{ name: string; url: string; online: boolean }>;
  tunnels: Array<{
    id: string;
    connectedAt: string;
    remoteAddress: string;
    routes: Array<{ kind: string; name?: string; port?: number; url: string; target: string; direct?: DirectView }>;
  }>;
}

/** A route's direct mode as the edge last checked it (absent when direct mode is off). */
export interface DirectView {
  port: number;
  /** null until the first check finished. */
  reachable: boolean | null;
  address?: string;
  reason?: string;
}

/** One line about a route's direct mode, for `udns status` and the agent's stderr. */
export function describeDirect(direct: DirectView | undefined): string {
  if (direct === undefined) return 'direct mode off';
  if (direct.reachable === null) return `direct port ${direct.port}: checking`;
  if (direct.reachable) return `direct: reachable at ${direct.address}:${direct.port} (DNS points here)`;
  return `direct: behind NAT/firewall (${direct.reason ?? 'unreachable'} on ${direct.address ?? '?'}:${direct.port}), visitors go through the relay`;
}

export type { NameView, RecordView } from '../protocol/api-views.js';

const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

/**
 * Calls the edge's JSON API with the token; turns every failure into one clear UdnsError,
 * keeping the edge's own error code and message when it sent one. Uses node:http(s) rather
 * than fetch, which cannot be told to trust a private CA.
 */
export async function callEdge<T>(edge: EdgeTarget, method: string, path: string, body?: unknown, options: { timeoutMs?: number } = {}): Promise<T> {
  let url: URL;
  try {
    url = new URL(path, edge.server);
  } catch {
    throw new UdnsError('config_invalid', `invalid server URL "${edge.server}": use e.g. http://localhost:8080`);
  }
  const { status, text, retryAfter } = await request(url, method, edge, body === undefined ? undefined : JSON.stringify(body), options.timeoutMs ?? EDGE_CALL_TIMEOUT_MS);
  if (status === 401) throw new UdnsError('unauthorized', 'token rejected: it is unknown or revoked');
  if (status === 429) {
    const seconds = /^\d+$/.test(retryAfter ?? '') ? Number(retryAfter) : 60;
    // The token gate is one 429; a limit of the endpoint itself (ticket requests, searches) is
    // another, and its own message says which: "rejected tokens" there would send the user
    // chasing a token problem they do not have.
    const limit = endpointLimit(text);
    if (limit !== null) throw new UdnsError('rate_limited', /try again/i.test(limit) ? limit : `${limit}; try again in ${seconds} s`);
    throw new UdnsError('rate_limited', `the edge turned the token away unchecked: too many rejected tokens from this network lately; try again in ${seconds} s`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UdnsError('server_unreachable', `the server at ${url.origin} answered ${status} and did not answer like a udns edge`);
  }
  if (status < 200 || status >= 300) {
    const error = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    if (typeof error?.code === 'string' && KNOWN_CODES.has(error.code) && typeof error.message === 'string') {
      throw new UdnsError(error.code as ErrorCode, error.message);
    }
    throw new UdnsError('server_unreachable', `the server at ${url.origin} answered ${status}: is it a udns edge?`);
  }
  return json as T;
}

/** The edge's message of a 429 that is not the token gate's (which names rejected tokens), else null. */
function endpointLimit(text: string): string | null {
  let message: unknown;
  try {
    message = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } } | null)?.error?.message;
  } catch {
    return null;
  }
  if (typeof message !== 'string' || /rejected tokens/i.test(message)) return null;
  // One line of plain text, however the edge phrased it.
  const line = message.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().slice(0, 300);
  return line === '' ? null : line;
}

const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
const UNTRUSTED = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;

/** How long callEdge waits for an answer unless told otherwise. */
export const EDGE_CALL_TIMEOUT_MS = 10_000;

function request(url: URL, method: string, edge: EdgeTarget, body: string | undefined, timeoutMs: number): Promise<{ status: number; text: string; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const secure = url.protocol === 'https:';
    const req = (secure ? https : http).request(url, {
      method,
      agent: false,
      timeout: timeoutMs,
      headers: { authorization: `Bearer ${edge.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }) },
      ...(secure ? { ca: edge.trust.ca, rejectUnauthorized: !edge.trust.insecure } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) req.destroy(new Error('answer too large'));
        else chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), retryAfter: res.headers['retry-after'] }));
      res.on('error', (error) => reject(unreachable(url, error)));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (error) => reject(unreachable(url, error)));
    req.end(body);
  });
}

function unreachable(url: URL, error: NodeJS.ErrnoException): UdnsError {
  const code = error.code ?? error.message;
  if (UNTRUSTED.test(code)) {
    return new UdnsError('tls_untrusted', `the certificate of ${url.origin} is not trusted (${code}): pass --ca <file> for a private CA, or --insecure to skip the check`);
  }
  return new UdnsError('server_unreachable', `cannot reach the server at ${url.origin} (${code})`);
}

/** GET /api/v1/me: the account, its names and live routes. */
export function fetchMe(edge: EdgeTarget): Promise<MeResponse> {
  return callEdge<MeResponse>(edge, 'GET', '/api/v1/me');
}

/** `/api/v1/names/<name>` with the name escaped for a path. */
export function namePath(name: string, ...rest: string[]): string {
  return ['/api/v1/names', name, ...rest].map((part, index) => (index === 0 ? part : encodeURIComponent(part))).join('/');
}
