import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { WebSocketServer, createWebSocketStream } from 'ws';
import {
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  RAW_UPGRADE_PROTOCOL,
  MUX_HEADER,
  FRAME_MUX_TOKEN,
  TUNNEL_PATH,
  rawHttpAnswer,
} from '../../protocol/index.js';
import type { AccountInfo } from '../accounts/account-store.js';
import type { TokenGate, TokenVerdict } from '../accounts/token-gate.js';
import type { Logger } from '../logger.js';
import { clientAddress } from '../proxy/trusted-proxies.js';
import { TunnelSession } from './tunnel-session.js';
import type { TunnelRegistry } from './tunnel-registry.js';

/** What the endpoint needs to check a bearer token. */
export interface TokenCheck {
  authenticate(token: string): Promise<AccountInfo | null>;
}

/** Largest WebSocket message accepted on a tunnel (HTTP/2 frames are at most 64 KiB + header). */
const MAX_WS_PAYLOAD_BYTES = 4 * 1024 * 1024;

/**
 * Handles `Upgrade` requests to the tunnel path: authenticates the bearer token through the
 * edge's token gate (429 with Retry-After, unchecked, while the caller's network has too many
 * rejected tokens), then turns the connection into a tunnel, either as a raw byte stream (`Upgrade: udns-tunnel`, the fast path)
 * or as a WebSocket (`Upgrade: websocket`, for networks whose proxies only pass WebSockets).
 */
export function createTunnelEndpoint(tokens: Pick<TokenGate, 'check' | 'authenticate'>, registry: TunnelRegistry, logger: Logger, trustedProxies: readonly string[] = []) {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_WS_PAYLOAD_BYTES });
  // The 101 says which mux the tunnel runs (the raw path writes its own 101 below).
  wss.on('headers', (headers, req) => {
    if (wantsFrameMux(req)) headers.push(`${MUX_HEADER}: ${FRAME_MUX_TOKEN}`);
  });

  return async function onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    socket.on('error', (error) => logger.debug({ err: error }, 'tunnel socket error before handshake'));
    // Behind a trusted proxy the agent is the proxy's last X-Forwarded-For entry: throttles and
    // direct mode's connect-back must see the agent, not the proxy.
    const client = clientAddress(req, trustedProxies);
    const path = (req.url ?? '').split('?')[0];
    if (path !== TUNNEL_PATH) return reject(socket, 404, `no upgrade endpoint at ${path}; agents use ${TUNNEL_PATH}`);

    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (upgrade !== RAW_UPGRADE_PROTOCOL && upgrade !== 'websocket') {
      return reject(socket, 400, `unsupported upgrade "${upgrade}", use ${RAW_UPGRADE_PROTOCOL} or websocket`);
    }
    const version = req.headers[PROTOCOL_HEADER];
    if (version !== undefined && version !== String(PROTOCOL_VERSION)) {
      return reject(socket, 426, `this edge speaks tunnel protocol ${PROTOCOL_VERSION}, the agent sent ${String(version)}: update udns on one side`);
    }
    const token = bearerToken(req.headers.authorization);
    if (!token) return reject(socket, 401, 'missing token: run `udns login <token>` or pass --token');

    let verdict: TokenVerdict;
    try {
      verdict = await tokens.check(token, client);
    } catch (error) {
      logger.error({ err: error }, 'token check failed');
      return reject(socket, 503, 'the edge could not check the token, try again');
    }
    if (verdict.kind === 'throttled') {
      return reject(socket, 429, `too many rejected tokens from your network: wait ${verdict.retryAfterSeconds} s before trying again`, { 'Retry-After': verdict.retryAfterSeconds });
    }
    if (verdict.kind === 'rejected') return reject(socket, 401, 'token rejected: it is unknown or revoked');
    const { account } = verdict;
    if (socket.destroyed) return;

    const remoteAddress = client;
    const mux = wantsFrameMux(req) ? 'frames' : 'http2';
    const open = (transport: Duplex): void => {
      const stillAuthorized = async (): Promise<boolean> => (await tokens.authenticate(token))?.id === account.id;
      const tunnel = new TunnelSession(transport, account, remoteAddress, stillAuthorized, registry, logger, mux);
      registry.addTunnel(tunnel);
    };
    if (upgrade === RAW_UPGRADE_PROTOCOL) {
      socket.setNoDelay(true);
      const accepted = mux === 'frames' ? `${MUX_HEADER}: ${FRAME_MUX_TOKEN}\r\n` : '';
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${RAW_UPGRADE_PROTOCOL}\r\n${accepted}\r\n`);
      // The first bytes of the agent's HTTP/2 preface may have arrived with the request.
      if (head.length > 0) socket.unshift(head);
      open(socket);
    } else {
      // ws sets TCP_NODELAY on the socket itself.
      wss.handleUpgrade(req, socket, head, (ws) => open(createWebSocketStream(ws)));
    }
  };
}

/** True when the agent offered the frame mux (any list containing {@link FRAME_MUX_TOKEN}). */
function wantsFrameMux(req: IncomingMessage): boolean {
  const offered = req.headers[MUX_HEADER];
  return typeof offered === 'string' && offered.split(',').some((token) => token.trim() === FRAME_MUX_TOKEN);
}

/** The token from `Authorization: Bearer <token>`, or null. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer[ \t]+(\S{1,512})[ \t]*$/i.exec(header);
  return match ? match[1]! : null;
}

function reject(socket: Socket, status: number, message: string, headers: Record<string, string | number> = {}): void {
  if (socket.destroyed) return;
  socket.end(rawHttpAnswer(status, `${message}\n`, { 'Content-Type': 'text/plain; charset=utf-8', ...headers }));
}
