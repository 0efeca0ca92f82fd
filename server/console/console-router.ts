import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import { UdnsError, isUdnsError } from '../../protocol/index.js';
import type { AccountInfo, AccountStore } from '../accounts/account-store.js';
import { MAX_TXT_LENGTH, checkTtl, parseOwner, parseRecordType, relativeOwner } from '../accounts/record-rules.js';
import type { TokenGate } from '../accounts/token-gate.js';
import { ADMIN_ACCOUNT_NAME } from '../admin-token-handover.js';
import type { Logger } from '../logger.js';
import { sendRenderedPage } from '../pages/send-page.js';
import type { PublicUrls } from '../public-urls.js';
import type { SearchIndex } from '../search/search-index.js';
import type { TrafficMeter } from '../traffic/traffic-meter.js';
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js';
import type { ZoneEditor } from '../zone-editor.js';
import type { AccountSuspension, ConsoleAccount } from './account-suspension.js';
import { renderConsolePage, type ConsolePageState, type Dashboard, type TrafficBar } from './console-page.js';
import { CONSOLE_ABSOLUTE_MS, type ConsoleSession, type ConsoleSessions } from './console-sessions.js';
import { sameOrigin } from '../api/same-origin.js';

/** Where the console lives on the apex. */
export const CONSOLE_PATH = '/console';
/** What `udns console` asks for (behind the API's token check). */
export const CONSOLE_LINK_PATH = '/console/link';

const HOUR_MS = 3_600_000;

/** What the console needs of the edge. */
export interface ConsoleDeps {
  readonly store: Pick<AccountStore, 'listNames' | 'listRecords' | 'listTokens' | 'createToken' | 'revokeToken'>;
  readonly editor: Pick<ZoneEditor, 'addRecord' | 'setRecords' | 'removeRecords'>;
  readonly registry: Pick<TunnelRegistry, 'lookupHttp' | 'tunnelsOf' | 'allTunnels' | 'closeAccount'>;
  readonly tokens: Pick<TokenGate, 'check' | 'recordFailure' | 'throttle'>;
  readonly sessions: ConsoleSessions;
  readonly suspension: AccountSuspension;
  readonly urls: PublicUrls;
  readonly clientAddress: (req: IncomingMessage) => string;
  readonly logger: Logger;
  /** The members' index, for the listed shares; absent: none shown. */
  readonly shares?: Pick<SearchIndex, 'sharesOf'>;
  /** Traffic per hour (server/traffic/); absent: no chart. */
  readonly traffic?: Pick<TrafficMeter, 'trafficByHour' | 'topNames'>;
}

// Every form field is a bounded string; the record rules give the precise messages after.
const csrfField = z.string().max(100);
const ttlField = z.string().trim().max(6).regex(/^\d*$/, 'a whole number of seconds').optional();
const TokenSignIn = z.object({ token: z.string().trim().min(1, 'paste your token first').max(512) }).strict();
const CodeSignIn = z.object({ code: z.string().max(100) }).strict();
const CsrfOnly = z.object({ csrf: csrfField }).strict();
const AddRecord = z.object({ csrf: csrfField, owner: z.string().min(1, 'give a name such as www.alice').max(300), type: z.string().max(10), value: z.string().min(1, 'give a value').max(MAX_TXT_LENGTH * 2), ttl: ttlField }).strict();
const ChangeRecord = z.object({ csrf: csrfField, owner: z.string().max(300), type: z.string().max(10), value: z.string().max(MAX_TXT_LENGTH * 2), newValue: z.string().min(1, 'give the new value').max(MAX_TXT_LENGTH * 2), ttl: ttlField }).strict();
const DeleteRecord = z.object({ csrf: csrfField, owner: z.string().max(300), type: z.string().max(10), value: z.string().max(MAX_TXT_LENGTH * 2) }).strict();
const CreateToken = z.object({ csrf: csrfField, label: z.string().max(64, 'a label has at most 64 characters').default('') }).strict();
const RevokeToken = z.object({ csrf: csrfField, id: z.string().regex(/^\d{1,9}$/, 'a token id') }).strict();
const AccountAction = z.object({ csrf: csrfField, account: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'an account name') }).strict();

/** What a redirect after a change says (a fixed list: nothing a visitor types is echoed from the URL). */
const NOTICES = {
  'signed-in': 'Signed in.',
  'record-added': 'Record added: DNS answers it now.',
  'record-changed': 'Record changed: DNS answers the new value now.',
  'record-deleted': 'Record deleted: DNS no longer answers it.',
  'token-revoked': 'Token revoked: it no longer works anywhere.',
  'account-suspended': 'Account suspended: its tunnels ended and its tokens no longer work.',
  'account-unsuspended': 'Suspension lifted: the account\'s tokens work again.',
} as const;
type Notice = keyof typeof NOTICES;

/** The console's refusals: a status and what the page says. */
class ConsoleRefusal extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function parseForm<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || 'form'}: ${issue.message}`);
  throw new ConsoleRefusal(400, `The form was not accepted: ${problems.join('; ')}.`);
}

const isSecure = (req: IncomingMessage): boolean => (req.socket as TLSSocket).encrypted === true;

/**
 * Over HTTPS `__Host-udns_console` (Secure, Path=/, no Domain: no member's site on a sub-name can
 * set or overwrite it); over plain HTTP (a local edge) `udns_console`, host-only as well.
 */
function cookieName(req: IncomingMessage): string {
  return isSecure(req) ? '__Host-udns_console' : 'udns_console';
}

function sessionCookie(req: IncomingMessage, id: string): string {
  return `${cookieName(req)}=${id}; Path=/; Max-Age=${Math.floor(CONSOLE_ABSOLUTE_MS / 1000)}; HttpOnly; SameSite=Strict${isSecure(req) ? '; Secure' : ''}`;
}

function clearedCookie(req: IncomingMessage): string {
  return `${cookieName(req)}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict${isSecure(req) ? '; Secure' : ''}`;
}

/**
 * The session id from a Cookie header, or null. Two cookies of that name mean someone else set
 * one: on a plain-HTTP edge a member's site (a sub-name, same site) can set a `Domain=<zone>`
 * cookie that the browser sends first, to work the visitor into the attacker's session. Both
 * are ignored then (sign-in is refused rather than guessed); `__Host-` prevents it on HTTPS.
 */
export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  let found: string | null = null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) {
      if (found !== null) return null;
      found = part.slice(eq + 1).trim();
    }
  }
  return found === null || found === '' || found.length > 100 ? null : found;
}


/** Constant-time comparison of two short strings. */
function sameSecret(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * `/console`: the members' console (and the operator's, for `admin`). Pages are server-rendered;
 * every change is a POST form carrying the session's CSRF token, checked with the Origin header
 * and behind a SameSite=Strict cookie. Headers forbid framing everywhere under the path.
 */
export function createConsoleRouter(deps: ConsoleDeps): express.Router {
  const { store, editor, registry, tokens, sessions, suspension, urls, logger } = deps;
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 12 });

  router.use(CONSOLE_PATH, (_req, res, next) => {
    res.set('X-Frame-Options', 'DENY');
    next();
  });

  const send = (res: Response, status: number, state: ConsolePageState): void => {
    sendRenderedPage(res, status, renderConsolePage(state));
  };
  const signIn = (res: Response, status: number, notice?: string): void => send(res, status, { domain: urls.domain, view: 'signIn', notice });

  /** The request's live session and its account, or null (the cookie is then cleared). */
  async function current(req: Request, res: Response): Promise<{ session: ConsoleSession; account: ConsoleAccount } | null> {
    const id = readCookie(req.headers.cookie, cookieName(req));
    if (id === null) return null;
    const session = await sessions.resume(id);
    const account = session === null ? null : await suspension.account(session.accountId);
    if (session === null || account === null || account.suspendedAt !== null) {
      if (session !== null) await sessions.end(session);
      res.append('Set-Cookie', clearedCookie(req));
      return null;
    }
    return { session, account };
  }

  async function startSession(req: Request, res: Response, accountId: number, how: string): Promise<void> {
    const { id } = await sessions.open(accountId);
    res.append('Set-Cookie', sessionCookie(req, id));
    logger.info({ accountId, how }, 'console sign-in');
    res.redirect(303, `${CONSOLE_PATH}?done=signed-in`);
  }

  router.get(CONSOLE_PATH, async (req, res) => {
    const signedIn = await current(req, res);
    if (signedIn === null) {
      const hadCookie = readCookie(req.headers.cookie, cookieName(req)) !== null;
      return signIn(res, hadCookie ? 401 : 200, hadCookie ? 'Your session ended (signed out, expired or not valid here): sign in again.' : undefined);
    }
    const done = typeof req.query.done === 'string' && req.query.done in NOTICES ? NOTICES[req.query.done as Notice] : undefined;
    send(res, 200, { domain: urls.domain, view: 'dashboard', data: await dashboard(signedIn.account, signedIn.session), notice: done });
  });

  router.get(`${CONSOLE_PATH}/login`, (_req, res) => send(res, 200, { domain: urls.domain, view: 'codeLogin' }));

  router.post(`${CONSOLE_PATH}/login`, form, async (req, res) => {
    if (!sameOrigin(req)) return signIn(res, 403, 'Sign in from this edge\'s own console page.');
    const parsed = TokenSignIn.safeParse(req.body ?? {});
    if (!parsed.success) return signIn(res, 400, 'Paste your token first.');
    const verdict = await tokens.check(parsed.data.token, deps.clientAddress(req));
    if (verdict.kind === 'throttled') {
      res.set('Retry-After', String(verdict.retryAfterSeconds));
      return signIn(res, 429, `Too many rejected tokens from your network: try again in ${verdict.retryAfterSeconds} s.`);
    }
    if (verdict.kind === 'rejected') return signIn(res, 401, 'That token was rejected: it is unknown or revoked (or its account is suspended).');
    await startSession(req, res, verdict.account.id, 'token');
  });

  router.post(`${CONSOLE_PATH}/login/code`, form, async (req, res) => {
    if (!sameOrigin(req)) return signIn(res, 403, 'Sign in from this edge\'s own console page.');
    const address = deps.clientAddress(req);
    const retryAfter = tokens.throttle.retryAfterSeconds(address);
    if (retryAfter > 0) {
      res.set('Retry-After', String(retryAfter));
      return signIn(res, 429, `Too many rejected sign-ins from your network: try again in ${retryAfter} s.`);
    }
    const parsed = CodeSignIn.safeParse(req.body ?? {});
    const accountId = parsed.success ? await sessions.redeemCode(parsed.data.code) : null;
    const account = accountId === null ? null : await suspension.account(accountId);
    if (account === null || account.suspendedAt !== null) {
      tokens.recordFailure(address);
      return signIn(res, 401, 'That sign-in link was already used, has expired (after 5 minutes) or is not valid: run `udns console` again.');
    }
    await startSession(req, res, account.id, 'code');
  });

  /** The POST handlers below: a live session, the same origin and the session's CSRF token, else nothing changes. */
  const guarded = (schema: z.ZodType<{ csrf: string }>, handle: (body: never, who: { session: ConsoleSession; account: ConsoleAccount }, req: Request, res: Response) => Promise<Notice | void>) =>
    async (req: Request, res: Response): Promise<void> => {
      const who = await current(req, res);
      if (who === null) return signIn(res, 401, 'Your session ended (signed out, expired or not valid here): sign in again. Nothing was changed.');
      try {
        if (!sameOrigin(req)) throw new ConsoleRefusal(403, 'Refused: the form came from another site. Nothing was changed.');
        const csrf = typeof req.body?.csrf === 'string' ? req.body.csrf : '';
        if (!sameSecret(csrf, who.session.csrf)) throw new ConsoleRefusal(403, 'Refused: the form is stale or forged (its CSRF token does not match this session). Reload the page and try again. Nothing was changed.');
        const body = parseForm(schema, req.body);
        const notice = await handle(body as never, who, req, res);
        if (notice !== undefined) res.redirect(303, `${CONSOLE_PATH}?done=${notice}`);
      } catch (error) {
        const status = error instanceof ConsoleRefusal ? error.status : isUdnsError(error) ? statusFor(error) : 0;
        if (status === 0) throw error;
        send(res, status, { domain: urls.domain, view: 'dashboard', data: await dashboard(who.account, who.session), error: (error as Error).message });
      }
    };

  router.post(`${CONSOLE_PATH}/logout`, form, guarded(CsrfOnly, async (_body, who, req, res) => {
    await sessions.end(who.session);
    res.append('Set-Cookie', clearedCookie(req));
    res.redirect(303, CONSOLE_PATH);
  }));

  router.post(`${CONSOLE_PATH}/records/add`, form, guarded(AddRecord, async (body: z.output<typeof AddRecord>, who) => {
    const owner = ownerOf(body.owner);
    await editor.addRecord(who.account.id, owner, { type: parseRecordType(body.type), value: body.value.trim(), ttl: ttlOf(body.ttl) });
    return 'record-added';
  }));

  router.post(`${CONSOLE_PATH}/records/change`, form, guarded(ChangeRecord, async (body: z.output<typeof ChangeRecord>, who) => {
    const owner = ownerOf(body.owner);
    const type = parseRecordType(body.type);
    const present = (await store.listRecords(who.account.id, owner)).filter((record) => record.owner === owner && record.type === type);
    if (!present.some((record) => record.value === body.value)) throw new UdnsError('not_found', `${owner} has no ${type} record ${JSON.stringify(body.value.slice(0, 60))} any more: reload the page`);
    const values = present.map((record) => record.value === body.value ? body.newValue.trim() : record.value);
    await editor.setRecords(who.account.id, owner, type, values, ttlOf(body.ttl));
    return 'record-changed';
  }));

  router.post(`${CONSOLE_PATH}/records/delete`, form, guarded(DeleteRecord, async (body: z.output<typeof DeleteRecord>, who) => {
    const change = await editor.removeRecords(who.account.id, ownerOf(body.owner), parseRecordType(body.type), body.value);
    if (change.removed === 0) throw new UdnsError('not_found', 'that record is gone already: reload the page');
    return 'record-deleted';
  }));

  router.post(`${CONSOLE_PATH}/tokens/create`, form, guarded(CreateToken, async (body: z.output<typeof CreateToken>, who, _req, res) => {
    const created = await store.createToken(who.account.name, body.label.trim());
    logger.info({ account: who.account.name, tokenId: created.info.id }, 'token created in the console');
    // Shown once, in this answer only (no-store): never in a URL.
    send(res, 201, { domain: urls.domain, view: 'dashboard', data: await dashboard(who.account, who.session), newToken: { token: created.token, label: created.info.label } });
  }));

  router.post(`${CONSOLE_PATH}/tokens/revoke`, form, guarded(RevokeToken, async (body: z.output<typeof RevokeToken>, who) => {
    await store.revokeToken(who.account.name, body.id);
    return 'token-revoked';
  }));

  const operatorOnly = (who: { account: ConsoleAccount }): void => {
    if (who.account.name !== ADMIN_ACCOUNT_NAME) throw new ConsoleRefusal(403, `Only the operator (the ${ADMIN_ACCOUNT_NAME} account) may do this.`);
  };
  router.post(`${CONSOLE_PATH}/accounts/suspend`, form, guarded(AccountAction, async (body: z.output<typeof AccountAction>, who) => {
    operatorOnly(who);
    await suspension.suspend(body.account);
    return 'account-suspended';
  }));
  router.post(`${CONSOLE_PATH}/accounts/unsuspend`, form, guarded(AccountAction, async (body: z.output<typeof AccountAction>, who) => {
    operatorOnly(who);
    await suspension.unsuspend(body.account);
    return 'account-unsuspended';
  }));

  async function dashboard(account: ConsoleAccount, session: ConsoleSession): Promise<Dashboard> {
    const since = new Date(Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 23 * HOUR_MS);
    const [names, records, tokenList, shares, hours] = await Promise.all([
      store.listNames(account.id),
      store.listRecords(account.id),
      store.listTokens(account.name),
      deps.shares?.sharesOf(account.id) ?? Promise.resolve(null),
      deps.traffic?.trafficByHour(account.name, since) ?? Promise.resolve(null),
    ]);
    const operator = account.name === ADMIN_ACCOUNT_NAME ? await operatorView(since) : null;
    return {
      account: account.name,
      csrf: session.csrf,
      names: names.map(({ label }) => {
        const entry = registry.lookupHttp(label);
        const direct = entry?.tunnel.routes.get(entry.routeId)?.direct;
        return { label, url: urls.forName(label), online: entry !== undefined, path: entry === undefined ? null : direct?.reachable === true ? 'direct' : 'relay' };
      }),
      routes: registry.tunnelsOf(account.id).flatMap((tunnel) => [...tunnel.routes.values()].map((route) => ({
        kind: route.kind, url: route.url, target: route.target, path: route.direct?.reachable === true ? 'direct' as const : 'relay' as const, tunnel: tunnel.id,
      }))),
      records: records.map((record) => ({ owner: record.owner, fqdn: `${record.owner}.${urls.domain}`, type: record.type, value: record.value, ttl: record.ttl })),
      tokens: tokenList,
      shares: shares === null ? null : shares.map((share) => ({ label: share.label, url: urls.forName(share.label), locked: share.locked, online: share.online, entries: share.entries, expiresAt: share.expiresAt })),
      traffic: hours === null ? null : hourlyBars(hours, since),
      operator,
    };
  }

  async function operatorView(since: Date): Promise<NonNullable<Dashboard['operator']>> {
    const [accounts, topNames] = await Promise.all([
      suspension.listAccounts(),
      deps.traffic?.topNames(since, 10) ?? Promise.resolve(null),
    ]);
    const tunnels = registry.allTunnels();
    return {
      accounts: accounts.map((account) => ({
        name: account.name, createdAt: account.createdAt, suspendedAt: account.suspendedAt,
        tunnels: tunnels.filter((tunnel) => tunnel.account.id === account.id).length, operator: account.name === ADMIN_ACCOUNT_NAME,
      })),
      tunnels: tunnels.map((tunnel) => ({
        id: tunnel.id, account: tunnel.account.name, remoteAddress: tunnel.remoteAddress, connectedAt: tunnel.connectedAt,
        routes: [...tunnel.routes.values()].map((route) => route.url),
      })),
      topNames,
    };
  }

  const ownerOf = (input: string): string => {
    const owner = relativeOwner(input, urls.domain);
    parseOwner(owner);
    return owner;
  };

  return router;
}

function ttlOf(text: string | undefined): number | undefined {
  return text === undefined || text === '' ? undefined : checkTtl(Number(text));
}

/** The last 24 hours as one bar each (all names summed), empty hours included. */
function hourlyBars(rows: ReadonlyArray<{ hour: Date; bytesIn: number; bytesOut: number }>, since: Date): TrafficBar[] {
  const bars: Array<{ hour: Date; bytesIn: number; bytesOut: number }> = [];
  for (let i = 0; i < 24; i++) bars.push({ hour: new Date(since.getTime() + i * HOUR_MS), bytesIn: 0, bytesOut: 0 });
  for (const row of rows) {
    const index = Math.floor((row.hour.getTime() - since.getTime()) / HOUR_MS);
    const bar = bars[index];
    if (bar === undefined) continue;
    bar.bytesIn += row.bytesIn;
    bar.bytesOut += row.bytesOut;
  }
  return bars;
}

function statusFor(error: UdnsError): number {
  switch (error.code) {
    case 'unauthorized': return 401;
    case 'forbidden': case 'name_taken': return 403;
    case 'not_found': return 404;
    case 'record_conflict': case 'record_limit': return 409;
    case 'rate_limited': return 429;
    case 'internal': return 500;
    default: return 400;
  }
}

/**
 * `POST /api/v1/console/link` (behind the API's token check): a one-time sign-in link for the
 * caller's account. The code rides in the URL fragment, which browsers send to no server and
 * put in no Referer.
 */
export function createConsoleApiRouter(deps: { sessions: ConsoleSessions; urls: PublicUrls; logger: Logger }): express.Router {
  const router = express.Router();
  router.post(CONSOLE_LINK_PATH, async (_req, res) => {
    const account = res.locals.account as AccountInfo;
    const { code, expiresAt } = await deps.sessions.issueCode(account.id);
    deps.logger.info({ account: account.name }, 'console sign-in link issued');
    res.set('Cache-Control', 'no-store').status(201).json({ url: `${deps.urls.apex()}${CONSOLE_PATH}/login#${code}`, expiresAt: expiresAt.toISOString() });
  });
  return router;
}
