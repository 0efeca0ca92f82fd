import { UdnsError } from '../protocol/index.js';

/** The edge's answer to GET /api/v1/me. */
export interface MeResponse {
  account: string;
  names: Array<{ name: string; url: string; online: boolean }>;
  tunnels: Array<{
    id: string;
    connectedAt: string;
    remoteAddress: string;
    routes: Array<{ kind: string; name?: string; port?: number; url: string; target: string }>;
  }>;
}

/** Calls the edge's API with the token; turns every failure into one clear UdnsError. */
export async function fetchMe(server: string, token: string): Promise<MeResponse> {
  let url: URL;
  try {
    url = new URL('/api/v1/me', server);
  } catch {
    throw new UdnsError('config_invalid', `invalid server URL "${server}": use e.g. http://localhost:8080`);
  }
  let response: Response;
  try {
    response = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new UdnsError('server_unreachable', `cannot reach the server at ${url.origin} (${cause})`);
  }
  if (response.status === 401) throw new UdnsError('unauthorized', 'token rejected: it is unknown or revoked');
  if (!response.ok) throw new UdnsError('server_unreachable', `the server at ${url.origin} answered ${response.status}: is it a udns edge?`);
  try {
    return (await response.json()) as MeResponse;
  } catch {
    throw new UdnsError('server_unreachable', `the server at ${url.origin} did not answer like a udns edge`);
  }
}
