import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import express from 'express';
import { isLabel, rawHttpAnswer } from '../../protocol/index.js';
import { CONNECT_OWNER_HEADER, CONNECT_PATH, CONNECT_UPGRADE_PROTOCOL, type PrivateRouteView } from '../../protocol/private-route.js';
import type { AccountInfo } from '../accounts/account-store.js';
import type { TokenGate, TokenVerdict } from '../accounts/token-gate.js';
import type { Logger } from '../logger.js';
import { bridgeVisitor } from '../proxy/visitor-bridge.js';
import { VISITOR_LIMIT_RETRY_AFTER_S, type VisitorQuotas } from '../quotas/visitor-quotas.js';
import { clientAddress } from '../proxy/trusted-proxies.js';
import { bearerToken } from '../tunnel/tunnel-endpoint.js';
import type { PrivateRoutes } from './private-routes.js';

/** One answer for an unknown name, an offline owner and a member not allowed: private names do not leak. */
export function notReachable(name: string): string {
  return `no private route "${name}" is online for you: check the name; its owner must be connected and allow you (--allow-member <your account>)`;
}

/** The name in `${CONNECT_PATH}/<name>`, lowercased; null when the path is something else. */
export function connectName(url: string | undefined): string | null {
  const path = (url ?? '').split('?')[0]!;
  if (!path.startsWith(`${CONNECT_PATH}/`)) return null;
  const name = path.slice(CONNECT_PATH.length + 1).toLowerCase();
  return isLabel(name) ? name : null;
}

/** True for an upgrade the connect endpoint handles (edge.ts routes it here). */
export function isConnectUpgrade(req: IncomingMessage): boolean {
  return (req.url ?? '').startsWith(`${CONNECT_PATH}/`);
}

/**
 * Handles `udns connect`'s upgrades (`GET /api/v1/connect/<name>`, `Upgrade: udns-connect`,
 * the member's token in `Authorization`, never in the URL): checks the token through the edge's
 * gate (rejected tokens are throttled per network, as everywhere), checks the member may use the
 * route, then answers 101 and bridges the connection's raw bytes into a visitor stream on the
 * owner's tunnel, with the member's network as the visitor's address (its per-network limits and
 * X-Forwarded-For). Every refusal is one HTTP answer with a JSON `{ error: { code, message } }`.
 */
export function createConnectEndpoint(deps: {
  tokens: Pick<TokenGate, 'check'>;
  routes: PrivateRoutes;
  logger: Logger;
  trustedProxies?: readonly string[];
  /** The operator's limits and byte counts (server/quotas/); none when absent. */
  quotas?: VisitorQuotas | null;
}) {
  const { tokens, routes, logger, trustedProxies = [], quotas = null } = deps;
  return async function onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    socket.on('error', (error) => logger.debug({ err: error }, 'connect socket error'));
    const client = clientAddress(req, trustedProxies);
    const name = connectName(req.url);
    if (name === null) return refuse(socket, 400, 'bad_request', `connect to ${CONNECT_PATH}/<name>, with a valid name`);
    if ((req.headers.upgrade ?? '').toLowerCase() !== CONNECT_UPGRADE_PROTOCOL) {
      return refuse(socket, 400, 'bad_request', `unsupported upgrade, use ${CONNECT_UPGRADE_PROTOCOL} (udns connect does)`);
    }
    const token = bearerToken(req.headers.authorization);
    if (token === null) return refuse(socket, 401, 'unauthorized', 'missing token: run `udns login`, pass --token-file or set UDNS_TOKEN');
    let verdict: TokenVerdict;
    try {
      verdict = await tokens.check(token, client);
    } catch (error) {
      logger.error({ err: error }, 'token check failed');
      return refuse(socket, 503, 'internal', 'the edge could not check the token, try again');
    }
    if (verdict.kind === 'throttled') {
      return refuse(socket, 429, 'rate_limited', `too many rejected tokens from your network: wait ${verdict.retryAfterSeconds} s before trying again`, { 'Retry-After': verdict.retryAfterSeconds });
    }
    if (verdict.kind === 'rejected') return refuse(socket, 401, 'unauthorized', 'token rejected: it is unknown or revoked; run `udns login` with a valid token');
    if (socket.destroyed) return;
    const member = verdict.account.name;
    const entry = routes.lookup(name, member);
    // Pinned by the connector: the name now served by another account is not the route it meant.
    const pinned = req.headers[CONNECT_OWNER_HEADER];
    if (entry === undefined || (typeof pinned === 'string' && pinned.toLowerCase() !== entry.tunnel.account.name)) {
      logger.info({ member, name, visitor: client }, 'private connection refused');
      return refuse(socket, 404, 'not_found', notReachable(name));
    }
    const log = entry.tunnel.logger.child({ name, member, visitor: client });
    socket.setNoDelay(true);
    const admission = quotas?.admit(entry.tunnel.account, name, entry.routeId);
    if (admission !== undefined && !admission.ok) {
      log.warn({ limit: admission.setting, max: admission.limit }, 'private connection refused: concurrent visitors limit reached');
      return refuse(socket, 429, 'rate_limited', admission.message, { 'Retry-After': VISITOR_LIMIT_RETRY_AFTER_S });
    }
    const outcome = bridgeVisitor(socket, entry.tunnel, {
      routeId: entry.routeId,
      remoteAddress: client,
      remotePort: req.socket.remotePort ?? 0,
      scheme: entry.kind === 'tcp' ? 'tcp' : 'http',
      host: name,
    }, head, log, entry.kind === 'tcp' ? 'tcp' : 'http', undefined, admission?.quota);
    if (outcome === 'busy') return refuse(socket, 503, 'rate_limited', 'this route has too many open connections right now (or your network has): try again shortly', { 'Retry-After': 5 });
    if (outcome === 'tunnel-gone') return refuse(socket, 404, 'not_found', notReachable(name));
    // Written before anything can come back: the stream's first bytes arrive on a later turn.
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${CONNECT_UPGRADE_PROTOCOL}\r\n\r\n`);
    log.info({ owner: entry.tunnel.account.name, kind: entry.kind }, 'private connection');
  };
}

/** `GET /api/v1/connect/<name>` (behind the API's token check): what `udns connect` checks before it listens. */
export function createConnectRouter(routes: PrivateRoutes): express.Router {
  const router = express.Router();
  router.get('/connect/:name', (req, res) => {
    const account = res.locals.account as AccountInfo;
    const name = String(req.params.name).toLowerCase();
    const entry = isLabel(name) ? routes.lookup(name, account.name) : undefined;
    if (entry === undefined) {
      res.status(404).json({ error: { code: 'not_found', message: notReachable(name) } });
      return;
    }
    const view: PrivateRouteView = { name: entry.name, kind: entry.kind, owner: entry.tunnel.account.name };
    res.json(view);
  });
  return router;
}

function refuse(socket: Socket, status: number, code: string, message: string, headers: Record<string, string | number> = {}): void {
  if (socket.destroyed) return;
  socket.end(rawHttpAnswer(status, `${JSON.stringify({ error: { code, message } })}\n`, { 'Content-Type': 'application/json', Connection: 'close', ...headers }));
}
