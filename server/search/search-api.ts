import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import express, { type Request, type Response } from 'express';
import { encodeSharePath } from '../../protocol/share-api.js';
import { parseSearchParams, searchVia, splitSharePath, type SearchHitView, type SearchMode, type SearchParams, type SearchResponse } from '../../protocol/search-api.js';
import type { AccountInfo } from '../accounts/account-store.js';
import type { TokenGate } from '../accounts/token-gate.js';
import type { Logger } from '../logger.js';
import { renderSearchPage, type SearchPageState } from '../pages/search-page.js';
import { sendRenderedPage } from '../pages/send-page.js';
import type { PublicUrls } from '../public-urls.js';
import { bearerToken } from '../tunnel/tunnel-endpoint.js';
import type { SearchHit, SearchIndex } from './search-index.js';
import { SearchThrottle } from './search-throttle.js';
import { sameOrigin } from '../api/same-origin.js';

export const SEARCH_API_PATH = '/api/v1/search';
export const SEARCH_PAGE_PATH = '/search';
export const SEARCH_LOGIN_PATH = '/search/login';
export const SEARCH_LOGOUT_PATH = '/search/logout';

/** The search settings as the edge runs them now (read on every request, so a reload shows at once). */
export interface SearchSettings {
  /** `--search`: who may search. */
  mode(): SearchMode;
  /** `--search-offline hide`: leave out the files of sharers whose agent is offline. */
  hideOffline(): boolean;
}

/** Who is asking, or why nobody may. */
type Caller =
  | { kind: 'member'; account: AccountInfo }
  | { kind: 'anonymous' }
  | { kind: 'refused'; status: number; code: string; message: string; retryAfter?: number };

/**
 * The members' search over HTTP: `GET /api/v1/search` (JSON, `SearchResponse`) and the apex
 * page `GET /search` (server-rendered HTML from a GET form, works without JavaScript), with
 * `POST /search/login` and `/search/logout` for browsers in `--search members` mode.
 *
 * Access: `members` needs a valid token (API: `Authorization: Bearer`; page: the cookie the
 * login form sets), `public` lets anyone search (anonymous searches throttled per network),
 * `off` refuses (API 403, page 404). A token that is presented and rejected is a 401 even in
 * `public` mode: a member who mistyped should learn it, not get silently anonymous answers.
 * Every parameter is checked (protocol/search-api.ts) before the store is asked.
 */
export function createSearchRouter(deps: {
  index: Pick<SearchIndex, 'search'>;
  settings: SearchSettings;
  tokens: Pick<TokenGate, 'check'>;
  urls: PublicUrls;
  clientAddress: (req: IncomingMessage) => string;
  logger: Logger;
  /** Anonymous searches per network; the edge's default limits when absent. */
  throttle?: SearchThrottle;
  now?: () => number;
}): express.Router {
  const { index, settings, tokens, urls, clientAddress, logger } = deps;
  const throttle = deps.throttle ?? new SearchThrottle();
  const now = deps.now ?? Date.now;
  const router = express.Router();

  /** `search`: false for a page that only shows the form, which costs an anonymous visitor nothing. */
  async function identify(req: Request, token: string | null, search = true): Promise<Caller> {
    const mode = settings.mode();
    if (mode === 'off') return { kind: 'refused', status: 403, code: 'forbidden', message: 'search is turned off on this edge (its operator runs it with --search off)' };
    if (token !== null) {
      const verdict = await tokens.check(token, clientAddress(req));
      if (verdict.kind === 'accepted') return { kind: 'member', account: verdict.account };
      if (verdict.kind === 'throttled') {
        return { kind: 'refused', status: 429, code: 'rate_limited', message: `too many rejected tokens from your network: try again in ${verdict.retryAfterSeconds} s`, retryAfter: verdict.retryAfterSeconds };
      }
      return { kind: 'refused', status: 401, code: 'unauthorized', message: 'token rejected: it is unknown or revoked; run `udns login` with a current one' };
    }
    if (mode === 'members') return { kind: 'refused', status: 401, code: 'unauthorized', message: 'search on this edge is for members: send your token (run `udns login`)' };
    const wait = search ? throttle.take(clientAddress(req)) : 0;
    if (wait > 0) return { kind: 'refused', status: 429, code: 'rate_limited', message: `too many searches from your network: try again in ${wait} s`, retryAfter: wait };
    return { kind: 'anonymous' };
  }

  async function search(params: SearchParams, member: boolean): Promise<SearchResponse> {
    const hideOffline = settings.hideOffline();
    const started = performance.now();
    const found = await index.search({
      words: params.q, kind: params.type, minSize: params.minSize, maxSize: params.maxSize, owner: params.owner,
      includeOffline: !hideOffline, limit: params.limit, offset: params.offset, nowMs: now(),
    });
    // Counts only: what people search for is theirs.
    const truncated = 'truncated' in found && found.truncated === true;
    logger.debug({ words: params.q.length, hits: found.hits.length, total: found.total, truncated, ms: Math.round(performance.now() - started) }, 'search');
    return { words: params.q, hits: found.hits.map((hit) => hitView(hit, member)), total: found.total, truncated, limit: params.limit, offset: params.offset, offlineHidden: hideOffline };
  }

  function hitView(hit: SearchHit, member: boolean): SearchHitView {
    const { folder, name } = splitSharePath(hit.path);
    return {
      name, folder, path: hit.path, size: hit.size, modified: new Date(hit.mtime).toISOString(), type: hit.type,
      owner: hit.owner, share: hit.label, locked: hit.locked, online: hit.online, via: searchVia(hit.online, hit.reachable, member),
      sha256: hit.sha256, price: hit.price, trust: { ...hit.trust }, url: `${urls.forName(hit.label)}${encodeSharePath(hit.path)}`, score: hit.score,
    };
  }

  router.get(SEARCH_API_PATH, async (req, res) => {
    res.set('Cache-Control', 'no-store');
    const caller = await identify(req, bearerToken(req.headers.authorization));
    if (caller.kind === 'refused') {
      if (caller.retryAfter !== undefined) res.set('Retry-After', String(caller.retryAfter));
      res.status(caller.status).json({ error: { code: caller.code, message: caller.message } });
      return;
    }
    const parsed = parseSearchParams(queryOf(req));
    if (!parsed.ok) {
      res.status(400).json({ error: { code: 'bad_request', message: parsed.message } });
      return;
    }
    res.json(await search(parsed.params, caller.kind === 'member'));
  });

  router.get(SEARCH_PAGE_PATH, async (req, res) => {
    const token = readCookie(req.headers.cookie, cookieName(req));
    const base: Pick<SearchPageState, 'domain' | 'apexUrl' | 'mode'> = { domain: urls.domain, apexUrl: urls.apex(), mode: settings.mode() };
    if (base.mode === 'off') return sendPage(res, 404, { ...base, view: 'off' });
    const query = withoutEmpty(queryOf(req));
    const caller = await identify(req, token, query.size > 0);
    if (caller.kind === 'refused') {
      if (caller.status === 401 && token !== null) res.append('Set-Cookie', clearedCookie(req));
      if (caller.retryAfter !== undefined) res.set('Retry-After', String(caller.retryAfter));
      if (caller.status === 401) {
        // A stale cookie in public mode: forget it and search anonymously on the next load.
        const notice = token !== null ? 'Your saved token was rejected (revoked or replaced): sign in again.' : undefined;
        return sendPage(res, 401, { ...base, view: 'signIn', notice });
      }
      return sendPage(res, caller.status, { ...base, view: 'results', form: formValues(req), member: null, error: caller.message });
    }
    const member = caller.kind === 'member' ? caller.account.name : null;
    const form = formValues(req);
    if (query.size === 0) return sendPage(res, 200, { ...base, view: 'results', form, member });
    const parsed = parseSearchParams(query);
    if (!parsed.ok) return sendPage(res, 400, { ...base, view: 'results', form, member, error: parsed.message });
    return sendPage(res, 200, { ...base, view: 'results', form, member, result: await search(parsed.params, member !== null) });
  });

  // The browser's way in for --search members: the token once through a form, then an HttpOnly
  // cookie on the apex only (see cookieName). Each search checks it again through the gate, so a
  // revoked token stops working at once and a guessed cookie is throttled like a guessed token.
  router.post(SEARCH_LOGIN_PATH, express.urlencoded({ extended: false, limit: '2kb', parameterLimit: 4 }), async (req, res) => {
    const base: Pick<SearchPageState, 'domain' | 'apexUrl' | 'mode'> = { domain: urls.domain, apexUrl: urls.apex(), mode: settings.mode() };
    if (base.mode === 'off') return sendPage(res, 404, { ...base, view: 'off' });
    if (!sameOrigin(req)) return sendPage(res, 403, { ...base, view: 'signIn', notice: 'Sign in from this edge\'s own search page.' });
    const token = typeof req.body?.token === 'string' ? req.body.token.trim() : '';
    if (token === '') return sendPage(res, 400, { ...base, view: 'signIn', notice: 'Paste your token first.' });
    const verdict = await tokens.check(token, clientAddress(req));
    if (verdict.kind === 'throttled') {
      res.set('Retry-After', String(verdict.retryAfterSeconds));
      return sendPage(res, 429, { ...base, view: 'signIn', notice: `Too many rejected tokens from your network: try again in ${verdict.retryAfterSeconds} s.` });
    }
    if (verdict.kind === 'rejected') return sendPage(res, 401, { ...base, view: 'signIn', notice: 'That token was rejected: it is unknown or revoked.' });
    res.append('Set-Cookie', sessionCookie(req, token));
    res.redirect(303, SEARCH_PAGE_PATH);
  });

  // In public mode the page links here: a member signed in gets their own download paths (direct, push).
  router.get(SEARCH_LOGIN_PATH, (_req, res) => {
    const mode = settings.mode();
    if (mode === 'off') return sendPage(res, 404, { domain: urls.domain, apexUrl: urls.apex(), mode, view: 'off' });
    return sendPage(res, 200, { domain: urls.domain, apexUrl: urls.apex(), mode, view: 'signIn' });
  });

  router.post(SEARCH_LOGOUT_PATH, (req, res) => {
    if (sameOrigin(req)) res.append('Set-Cookie', clearedCookie(req));
    res.redirect(303, SEARCH_PAGE_PATH);
  });

  return router;
}

function sendPage(res: Response, status: number, state: SearchPageState): void {
  sendRenderedPage(res, status, renderSearchPage(state));
}

/** The raw query string: express's `req.query` would turn `q[a]=1` into objects. */
function queryOf(req: Request): URLSearchParams {
  const at = req.originalUrl.indexOf('?');
  return new URLSearchParams(at === -1 ? '' : req.originalUrl.slice(at + 1));
}

/** A GET form sends its empty fields (`type=&minSize=`): they mean "any". */
function withoutEmpty(query: URLSearchParams): URLSearchParams {
  const kept = new URLSearchParams();
  for (const [key, value] of query) if (value.trim() !== '' || key === 'q') kept.append(key, value);
  return kept;
}

/** What the form shows again: the raw values as typed (bounded: they are echoed into the page). */
function formValues(req: Request): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [key, value] of queryOf(req)) {
    if (['q', 'type', 'minSize', 'maxSize', 'owner'].includes(key) && !(key in values)) values[key] = value.slice(0, 1024);
  }
  return values;
}

const isSecure = (req: IncomingMessage): boolean => (req.socket as TLSSocket).encrypted === true;

/**
 * Over HTTPS `__Host-udns_search` (Secure, Path=/, no Domain): the browser refuses one set by a
 * member's site on a sub-name, so no member can plant their token in a visitor's browser. Over
 * plain HTTP (a local edge) the prefix is not allowed; the cookie stays host-only (the apex),
 * Path=/ too, so the member pages (`/members/<account>`) see it.
 */
function cookieName(req: IncomingMessage): string {
  return isSecure(req) ? '__Host-udns_search' : 'udns_search';
}

const SESSION_SECONDS = 30 * 24 * 3600;

function sessionCookie(req: IncomingMessage, token: string): string {
  return isSecure(req)
    ? `${cookieName(req)}=${token}; Path=/; Max-Age=${SESSION_SECONDS}; HttpOnly; Secure; SameSite=Lax`
    : `${cookieName(req)}=${token}; Path=/; Max-Age=${SESSION_SECONDS}; HttpOnly; SameSite=Lax`;
}

/** Clears the cookie; over HTTP also the one earlier edges set with Path=/search. */
function clearedCookie(req: IncomingMessage): string[] {
  return isSecure(req)
    ? [`${cookieName(req)}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax`]
    : [`${cookieName(req)}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax`, `${cookieName(req)}=; Path=${SEARCH_PAGE_PATH}; Max-Age=0; HttpOnly; SameSite=Lax`];
}


/** The search page's sign-in token this request carries (its cookie), unchecked; null when none. */
export function searchSessionToken(req: IncomingMessage): string | null {
  return readCookie(req.headers.cookie, cookieName(req));
}

/** One cookie's value from a `Cookie` header, or null (a token is at most 512 characters). */
function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      return value === '' || value.length > 512 ? null : value;
    }
  }
  return null;
}
