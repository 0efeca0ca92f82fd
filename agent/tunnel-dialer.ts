import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import WebSocket, { createWebSocketStream } from 'ws';
import {
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  RAW_UPGRADE_PROTOCOL,
  MUX_HEADER,
  FRAME_MUX_TOKEN,
  TUNNEL_PATH,
  type MuxKind,
  UdnsError,
  type ErrorCode,
} from '../protocol/index.js';

/** How the agent carries the tunnel: a raw upgraded socket (fast) or a WebSocket (proxy-friendly). */
export type TransportKind = 'raw' | 'ws';

/** How an `https://` edge is verified. The token is only ever sent after verification passes. */
export interface TlsTrust {
  /** Extra trusted CA certificates (PEM), for edges with a private CA. */
  ca?: string;
  /** Skip verification: the token may then reach an impostor. Only with --insecure. */
  insecure?: boolean;
}

/** Node's codes for a certificate the client does not trust. */
const UNTRUSTED_CERTIFICATE = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED', 'CERT_REVOKED',
]);

const CONNECT_TIMEOUT_MS = 10_000;
const MAX_ERROR_BODY_BYTES = 4096;
/** The wait assumed when a 429 names none (or a malformed one). */
const DEFAULT_RETRY_AFTER_MS = 30_000;
/** The longest wait an edge's Retry-After may impose: a broken or hostile edge cannot park the agent for days. */
const MAX_RETRY_AFTER_MS = 60 * 60_000;

/**
 * The edge turned the token away unchecked (HTTP 429): too many rejected tokens came from this
 * network lately. Not a verdict on the token: try again after `retryAfterMs`, not sooner.
 */
export class RetryLaterError extends UdnsError {
  constructor(message: string, readonly retryAfterMs: number) {
    super('rate_limited', message);
  }
}

/**
 * The edge refused or reset the connection: it is down or restarting, and probing it again costs
 * it nothing, so the agent retries within about a second (see Backoff).
 */
export class EdgeDownError extends UdnsError {
  constructor(message: string, options: { cause: unknown }) {
    super('server_unreachable', message, options);
  }
}

/** Connection failures that say the edge's host is up but nothing accepts (yet) on its port. */
const EDGE_DOWN_CODES = new Set(['ECONNREFUSED', 'ECONNRESET']);

/**
 * Opens the tunnel's byte stream to the edge at `serverUrl`, authenticating with `token`.
 * @throws UdnsError `unauthorized` (token rejected), `protocol_version`, `server_unreachable`
 *   ({@link EdgeDownError} when refused or reset), or a {@link RetryLaterError} (`rate_limited`)
 */
export function dialTunnel(serverUrl: URL, token: string, kind: TransportKind, trust: TlsTrust = {}, mux: MuxKind = 'frames'): Promise<DialedTunnel> {
  return kind === 'raw' ? dialRaw(serverUrl, token, trust, mux) : dialWebSocket(serverUrl, token, trust, mux);
}

/** The tunnel's byte stream, the edge's address, and the mux both ends agreed on. */
export type DialedTunnel = Duplex & { edgeAddress?: string; mux: MuxKind };

function tlsOptions(trust: TlsTrust): { ca?: string; rejectUnauthorized: boolean } {
  return { ...(trust.ca ? { ca: trust.ca } : {}), rejectUnauthorized: !trust.insecure };
}

function tunnelHeaders(token: string, mux: MuxKind): Record<string, string> {
  return {
    Authorization: `Bearer ${token}`,
    [PROTOCOL_HEADER]: String(PROTOCOL_VERSION),
    ...(mux === 'frames' ? { [MUX_HEADER]: FRAME_MUX_TOKEN } : {}),
  };
}

/** The mux the edge's 101 agreed to: frames only when it said so (an older edge does not). */
function agreedMux(headers: http.IncomingHttpHeaders): MuxKind {
  return headers[MUX_HEADER] === FRAME_MUX_TOKEN ? 'frames' : 'http2';
}

function dialRaw(serverUrl: URL, token: string, trust: TlsTrust, mux: MuxKind): Promise<DialedTunnel> {
  return new Promise((resolve, reject) => {
    const client = serverUrl.protocol === 'https:' ? https : http;
    const req = client.request(new URL(TUNNEL_PATH, serverUrl), {
      method: 'GET',
      agent: false,
      ...(serverUrl.protocol === 'https:' ? tlsOptions(trust) : {}),
      headers: { Connection: 'Upgrade', Upgrade: RAW_UPGRADE_PROTOCOL, ...tunnelHeaders(token, mux) },
    });
    const timer = setTimeout(() => req.destroy(new Error('timed out')), CONNECT_TIMEOUT_MS);
    req.on('upgrade', (res, socket, head) => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 15_000);
      if (head.length > 0) socket.unshift(head);
      resolve(Object.assign(socket, { edgeAddress: socket.remoteAddress, mux: agreedMux(res.headers) }));
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      readRejection(res).then(reject, reject);
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(unreachable(serverUrl, error));
    });
    req.end();
  });
}

function dialWebSocket(serverUrl: URL, token: string, trust: TlsTrust, mux: MuxKind): Promise<DialedTunnel> {
  return new Promise((resolve, reject) => {
    const wsUrl = new URL(TUNNEL_PATH, serverUrl);
    wsUrl.protocol = serverUrl.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(wsUrl, {
      headers: tunnelHeaders(token, mux),
      perMessageDeflate: false,
      handshakeTimeout: CONNECT_TIMEOUT_MS,
      maxPayload: 4 * 1024 * 1024,
      ...(serverUrl.protocol === 'https:' ? tlsOptions(trust) : {}),
    });
    let agreed: MuxKind = 'http2';
    ws.once('upgrade', (res) => {
      agreed = agreedMux(res.headers);
    });
    ws.once('open', () => {
      const underlying = (ws as unknown as { _socket?: { remoteAddress?: string } })._socket;
      resolve(Object.assign(createWebSocketStream(ws), { edgeAddress: underlying?.remoteAddress, mux: agreed }));
    });
    ws.once('unexpected-response', (_req, res) => {
      // Terminating first would fire 'error' and report "unreachable" instead of the 401.
      ws.removeAllListeners('error');
      ws.on('error', () => {});
      readRejection(res).then(reject, reject).finally(() => ws.terminate());
    });
    ws.once('error', (error: NodeJS.ErrnoException) => reject(unreachable(serverUrl, error)));
  });
}

/** Turns a non-101 answer into the UdnsError it means, with the edge's own message. */
async function readRejection(res: http.IncomingMessage): Promise<UdnsError> {
  let body = '';
  for await (const chunk of res) {
    body += String(chunk);
    if (body.length > MAX_ERROR_BODY_BYTES) break;
  }
  res.destroy();
  const message = body.trim().split('\n')[0]?.slice(0, 300) || `HTTP ${res.statusCode}`;
  const location = res.headers.location;
  if (res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && location?.startsWith('https:')) {
    return new UdnsError('server_unreachable', `the server redirects to HTTPS: use --server ${new URL(location).origin}`);
  }
  if (res.statusCode === 429) {
    const waitMs = retryAfterMs(res.headers['retry-after']);
    return new RetryLaterError(`the edge turned the token away unchecked: too many rejected tokens from this network lately (it asks for ${Math.ceil(waitMs / 1000)} s)`, waitMs);
  }
  const code: ErrorCode = res.statusCode === 401 ? 'unauthorized'
    : res.statusCode === 426 ? 'protocol_version'
      : 'server_unreachable';
  const prefix = code === 'server_unreachable' ? `the server answered ${res.statusCode}, it may not be a udns edge: ` : '';
  return new UdnsError(code, prefix + message);
}

/** Retry-After as delay-seconds or an HTTP date, within 0 … {@link MAX_RETRY_AFTER_MS}. */
function retryAfterMs(header: string | undefined): number {
  const text = (header ?? '').trim();
  const ms = /^\d+$/.test(text) ? Number(text) * 1000 : Date.parse(text) - Date.now();
  if (!Number.isFinite(ms)) return DEFAULT_RETRY_AFTER_MS;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

function unreachable(serverUrl: URL, error: NodeJS.ErrnoException): UdnsError {
  const reason = error.code ?? error.message;
  if (error.code && UNTRUSTED_CERTIFICATE.has(error.code)) {
    return new UdnsError('tls_untrusted', `the certificate of ${serverUrl.origin} is not trusted (${error.code}): pass --ca <file> for a private CA, or --insecure to skip the check (your token would then go to an unverified server)`, { cause: error });
  }
  const message = `cannot reach the server at ${serverUrl.origin} (${reason})`;
  if (error.code && EDGE_DOWN_CODES.has(error.code)) return new EdgeDownError(message, { cause: error });
  return new UdnsError('server_unreachable', message, { cause: error });
}
