import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { UdnsError, isUdnsError, plainAddress } from '../../protocol/index.js';
import { isDatabaseError } from '../metrics/database-error.js';
import type { AccountInfo, AccountStore } from '../accounts/account-store.js';
import type { TokenGate } from '../accounts/token-gate.js';
import type { Logger } from '../logger.js';
import type { NameDirectory } from '../name-directory.js';
import { renderErrorPage, wantsHtml } from '../pages/error-page.js';
import { renderLandingPage } from '../pages/landing-page.js';
import type { PublicUrls } from '../public-urls.js';
import { clientAddress } from '../proxy/trusted-proxies.js';
import { createSearchRouter, type SearchSettings } from '../search/search-api.js';
import type { SearchIndex } from '../search/search-index.js';
import { bearerToken } from '../tunnel/tunnel-endpoint.js';
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js';
import type { ZoneEditor } from '../zone-editor.js';
import { absentNameAnswer } from './absent-name.js';
import { DYNDNS_PATH, createDyndnsEndpoint } from './dyndns-endpoint.js';
import { createNamesRouter } from './names-api.js';
import type { TicketOffice } from '../transfers/ticket-office.js';
import type { TransferLog } from '../transfers/transfer-log.js';
import { createTransferRecordsRouter } from '../transfers/transfer-records-api.js';
import { createTransfersRouter } from '../transfers/transfers-api.js';
import { appRequestFields } from '../observe/refused-request.js';

/** What the API reads about names and records; changes go through the ZoneEditor. */
export type NameListing = Pick<AccountStore, 'listNames' | 'listRecords' | 'nameOwner'>;

/**
 * The edge's own HTTP app. On any host: the dyndns2 update endpoint (/nic/update). On the apex
 * host: landing page and the JSON API under /api/v1. On a member name (reached only when no
 * tunnel serves it): 502 "offline" or 404 "unknown".
 */
export function createEdgeApp(deps: {
  domain: string;
  /** Every token check of the API and /nic/update goes through it (throttled per network). */
  tokens: Pick<TokenGate, 'check' | 'recordFailure'>;
  names: NameListing;
  editor: ZoneEditor;
  directory: NameDirectory;
  registry: TunnelRegistry;
  urls: PublicUrls;
  logger: Logger;
  /** `--trusted-proxy` networks: behind them the client is the proxy's last X-Forwarded-For entry. */
  trustedProxies?: readonly string[];
  /** Transfer tickets (POST /api/v1/transfers); absent: no such endpoint. */
  transfers?: TicketOffice;
  /** Transfer records (GET /api/v1/transfers); absent: no such endpoint. */
  transferRecords?: Pick<TransferLog, 'list' | 'flush' | 'verifyChain'>;
  /** The members' search (`/api/v1/search`, the apex page `/search`); absent: neither exists. */
  search?: { index: Pick<SearchIndex, 'search'>; settings: SearchSettings };
  /** More of the API, behind the token check (credits, ledger, purchases: server/exchange/exchange-rooms.ts). */
  apiRouters?: readonly express.Router[];
  /** More apex routes before the token check (public pages, the ledger's public head). */
  pageRouters?: readonly express.Router[];
  /** Told of every request that failed because of the database (the metrics count them). */
  onDatabaseError?: (operation: string) => void;
}) {
  const { domain, tokens, names, editor, directory, registry, urls, logger, trustedProxies = [] } = deps;
  const clientOf = (req: IncomingMessage): string => clientAddress(req, trustedProxies);
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);

  // Before the host routing: routers and ddclient are often pointed at the edge by IP or by
  // some host name of the member's. (A name with a live tunnel never gets here: its requests,
  // /nic/update included, belong to the member's own site.)
  app.get(DYNDNS_PATH, createDyndnsEndpoint({
    domain,
    accounts: {
      check: (token, address) => tokens.check(token, address),
      recordFailure: (address) => tokens.recordFailure(address),
      nameOwner: (label) => names.nameOwner(label),
    },
    editor,
    directory,
    clientAddress: clientOf,
    logger: logger.child({ component: 'dyndns' }),
  }));

  // Member names that reached the edge's own app have no live tunnel.
  app.use((req, res, next) => {
    const absent = absentNameAnswer(req, domain, directory);
    if (absent === null) return next();
    // A visitor's request answered by the edge, not a tunnel: its access-log line (--access-log only).
    const observer = registry.visitorObserver;
    if (observer?.logsRefusals) observer.refusedByApp(req, res, absent.status === 502 ? 'offline' : 'unknown_name', appRequestFields(req, domain));
    // The front door decided on this connection's first request only: a kept-alive connection
    // would get "offline" here for good, even once the PC is back. The next one is routed afresh.
    res.set('Connection', 'close');
    return sendError(req, res, absent.status, absent.title, absent.detail);
  });

  app.get('/', (_req, res) => {
    res.type('html').send(renderLandingPage(urls.apex(), domain, deps.search !== undefined && deps.search.settings.mode() !== 'off'));
  });
  app.get('/healthz', (_req, res) => {
    res.type('text').send('ok\n');
  });

  // Before the API's token check: `--search public` lets visitors without a token search.
  if (deps.search !== undefined) {
    app.use(createSearchRouter({ ...deps.search, tokens, urls, clientAddress: clientOf, logger: logger.child({ component: 'search' }) }));
  }

  for (const router of deps.pageRouters ?? []) app.use(router);

  const api = express.Router();
  api.use(async (req, res, next) => {
    const token = bearerToken(req.headers.authorization);
    const verdict = token === null ? null : await tokens.check(token, clientOf(req));
    if (verdict?.kind === 'throttled') {
      res.status(429).set('Retry-After', String(verdict.retryAfterSeconds)).json({
        error: { code: 'rate_limited', message: `too many rejected tokens from your network: try again in ${verdict.retryAfterSeconds} s` },
      });
      return;
    }
    if (verdict?.kind !== 'accepted') {
      res.status(401).json({ error: { code: 'unauthorized', message: 'missing or rejected token: run `udns login <token>`' } });
      return;
    }
    res.locals.account = verdict.account;
    next();
  });
  // The caller's address as the edge sees it: what `udns ddns` points a name at. Ask over
  // IPv4 and over IPv6 to learn both.
  api.get('/address', (req, res) => {
    const address = plainAddress(clientOf(req));
    res.json({ address, family: isIP(address) });
  });
  api.get('/me', async (_req, res) => {
    const account = res.locals.account as AccountInfo;
    const owned = await names.listNames(account.id);
    res.json({
      account: account.name,
      names: owned.map((name) => ({ name: name.label, url: urls.forName(name.label), online: registry.lookupHttp(name.label) !== undefined })),
      tunnels: registry.tunnelsOf(account.id).map((tunnel) => ({
        id: tunnel.id,
        connectedAt: tunnel.connectedAt.toISOString(),
        remoteAddress: tunnel.remoteAddress,
        routes: [...tunnel.routes.values()].map(({ routeId, kind, name, port, url, target, direct }) => ({ routeId, kind, name, port, url, target, direct })),
      })),
    });
  });
  api.use(createNamesRouter({ domain, names, editor, registry, urls }));
  if (deps.transferRecords) api.use(createTransferRecordsRouter(deps.transferRecords));
  if (deps.transfers) api.use(createTransfersRouter({ office: deps.transfers, relayedBytes: () => registry.relayedBytes, clientOf }));
  for (const router of deps.apiRouters ?? []) api.use(router);
  app.use('/api/v1', api);

  app.use((req, res) => sendError(req, res, 404, 'Not found', `nothing at ${req.path}`));
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (isUdnsError(error)) {
      res.status(statusFor(error)).json({ error: { code: error.code, message: error.message } });
      return;
    }
    const status = (error as { status?: number }).status;
    if (status && status >= 400 && status < 500) {
      sendError(req, res, status, 'Bad request', (error as Error).message);
      return;
    }
    if (isDatabaseError(error)) deps.onDatabaseError?.('api');
    logger.error({ err: error, path: req.path }, 'request failed');
    sendError(req, res, 500, 'Internal error', 'the edge failed to answer this request');
  });
  return app;
}

function sendError(req: Request, res: Response, status: number, title: string, detail: string): void {
  if (req.path.startsWith('/api/')) {
    const code = status === 404 ? 'not_found' : status >= 400 && status < 500 ? 'bad_request' : 'internal';
    res.status(status).json({ error: { code, message: detail } });
    return;
  }
  const page = renderErrorPage(status, title, detail, wantsHtml(req.headers));
  res.status(status).type(page.contentType).send(page.body);
}

function statusFor(error: UdnsError): number {
  switch (error.code) {
    case 'unauthorized': return 401;
    case 'forbidden': case 'name_taken': case 'name_limit': return 403;
    case 'not_found': return 404;
    case 'record_conflict': case 'record_limit': return 409;
    case 'insufficient_credits': case 'payment_required': return 402;
    case 'idempotency_conflict': case 'sale_state': case 'hash_mismatch': case 'price_too_high': return 409;
    case 'proof_rejected': return 422;
    case 'rate_limited': return 429;
    case 'internal': return 500;
    default: return 400;
  }
}
