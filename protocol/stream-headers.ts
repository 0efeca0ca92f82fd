import { z } from 'zod';
import type { TunnelHeaders } from './tunnel-mux.js';

/*
 * Every visitor connection becomes one CONNECT stream of the tunnel mux (protocol/tunnel-mux.ts)
 * opened by the edge. Its headers (the stream's first frame) say which route it is for and who
 * the visitor is; after that the stream carries the visitor's bytes unchanged, both ways.
 */

/** Path-less pseudo authority the control stream is opened with. */
export const CONTROL_AUTHORITY = 'control.udns';

const HEADER_ROUTE = 'udns-route';
const HEADER_REMOTE_ADDRESS = 'udns-remote-address';
const HEADER_REMOTE_PORT = 'udns-remote-port';
const HEADER_SCHEME = 'udns-scheme';
const HEADER_HOST = 'udns-host';
const HEADER_FORWARDED_TRUSTED = 'udns-forwarded-trusted';
const HEADER_CUSTOM_HOST = 'udns-custom-host';

/** Who is on the other end of a visitor stream, as the edge saw them. */
export const VisitorInfo = z.object({
  routeId: z.string().min(1).max(64),
  remoteAddress: z.string().max(64),
  remotePort: z.number().int().min(0).max(65535),
  /** `http` or `https`: what the visitor used to reach the edge. */
  scheme: z.enum(['http', 'https', 'tcp']),
  /** The public host:port the visitor connected to. */
  host: z.string().max(300),
  /**
   * True when the visitor's TCP peer is a proxy the edge trusts (`--trusted-proxy`): the agent
   * then takes the client address from the last `X-Forwarded-For` entry of each request and the
   * scheme from its `X-Forwarded-Proto`. Absent from older edges (and ignored by older agents):
   * the peer is the client.
   */
  forwardedTrusted: z.boolean().optional(),
  /**
   * The verified custom domain (`shop.example.com`, lower-case) the edge routed this connection
   * by: the agent accepts it as a Host beside the route's own name. Absent from older edges (and
   * ignored by older agents, which answer 421 to such a Host).
   */
  customHost: z.string().max(253).optional(),
}).strict();
export type VisitorInfo = z.infer<typeof VisitorInfo>;

/** Headers for the CONNECT stream that carries one visitor connection. */
export function visitorStreamHeaders(info: VisitorInfo): TunnelHeaders {
  return {
    ':method': 'CONNECT',
    ':authority': 'visitor.udns',
    [HEADER_ROUTE]: info.routeId,
    [HEADER_REMOTE_ADDRESS]: info.remoteAddress,
    [HEADER_REMOTE_PORT]: String(info.remotePort),
    [HEADER_SCHEME]: info.scheme,
    [HEADER_HOST]: info.host,
    ...(info.forwardedTrusted ? { [HEADER_FORWARDED_TRUSTED]: '1' } : {}),
    ...(info.customHost !== undefined ? { [HEADER_CUSTOM_HOST]: info.customHost } : {}),
  };
}

/** Parses the headers of a visitor stream; null when they are not one (the agent resets it). */
export function parseVisitorStreamHeaders(headers: TunnelHeaders): VisitorInfo | null {
  if (headers[':method'] !== 'CONNECT' || headers[':authority'] !== 'visitor.udns') return null;
  const parsed = VisitorInfo.safeParse({
    routeId: headers[HEADER_ROUTE],
    remoteAddress: headers[HEADER_REMOTE_ADDRESS],
    remotePort: Number(headers[HEADER_REMOTE_PORT]),
    scheme: headers[HEADER_SCHEME],
    host: headers[HEADER_HOST],
    ...(headers[HEADER_FORWARDED_TRUSTED] === '1' ? { forwardedTrusted: true } : {}),
    ...(typeof headers[HEADER_CUSTOM_HOST] === 'string' ? { customHost: headers[HEADER_CUSTOM_HOST] } : {}),
  });
  return parsed.success ? parsed.data : null;
}

/** Headers for the control stream, opened once by the edge right after the handshake. */
export function controlStreamHeaders(): TunnelHeaders {
  return { ':method': 'CONNECT', ':authority': CONTROL_AUTHORITY };
}

/** True for the control stream's headers. */
export function isControlStream(headers: TunnelHeaders): boolean {
  return headers[':method'] === 'CONNECT' && headers[':authority'] === CONTROL_AUTHORITY;
}
