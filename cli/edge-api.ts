import { ERROR_CODES, UdnsError, type ErrorCode } from '../protocol/index.js';

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
 * keeping the edge's own error code and message when it sent one.
 */
export async function callEdge<T>(server: string, token: string, method: string, path: string, body?: unknown): Promise<T> {
  let url: URL;
  try {
    url = new URL(path, server);
  } catch {
    throw new UdnsError('config_invalid', `invalid server URL "${server}": use e.g. http://localhost:8080`);
  }
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new UdnsError('server_unreachable', `cannot reach the server at ${url.origin} (${cause})`);
  }
  if (response.status === 401) throw new UdnsError('unauthorized', 'token rejected: it is unknown or revoked');
  let json: unknown;
  try {
    json = await response.json();
  } catch {
    throw new UdnsError('server_unreachable', `the server at ${url.origin} answered ${response.status} and did not answer like a udns edge`);
  }
  if (!response.ok) {
    const error = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    if (typeof error?.code === 'string' && KNOWN_CODES.has(error.code) && typeof error.message === 'string') {
      throw new UdnsError(error.code as ErrorCode, error.message);
    }
    throw new UdnsError('server_unreachable', `the server at ${url.origin} answered ${response.status}: is it a udns edge?`);
  }
  return json as T;
}

/** GET /api/v1/me: the account, its names and live routes. */
export function fetchMe(server: string, token: string): Promise<MeResponse> {
  return callEdge<MeResponse>(server, token, 'GET', '/api/v1/me');
}

/** `/api/v1/names/<name>` with the name escaped for a path. */
export function namePath(name: string, ...rest: string[]): string {
  return ['/api/v1/names', name, ...rest].map((part, index) => (index === 0 ? part : encodeURIComponent(part))).join('/');
}
