import net from 'node:net';
import type { Request, Response } from 'express';
import { isUdnsError, plainAddress } from '../../protocol/index.js';
import type { AccountInfo } from '../accounts/account-store.js';
import type { TokenVerdict } from '../accounts/token-gate.js';
import { canonicalValue, parseOwner, type RecordType } from '../accounts/record-rules.js';
import type { Logger } from '../logger.js';
import type { NameDirectory } from '../name-directory.js';
import type { ZoneEditor } from '../zone-editor.js';
import { ChangeThrottle } from './change-throttle.js';

/** Where routers and ddclient send updates (the dyndns2 protocol's path). */
export const DYNDNS_PATH = '/nic/update';
/** Hostnames one update may name (dyndns2: more is `numhost`). */
export const MAX_HOSTNAMES_PER_UPDATE = 20;
/** Updates that change something, per account per hour; more are `abuse` until the hour slides on. */
export const MAX_CHANGES_PER_HOUR = 60;
const HOUR_MS = 60 * 60_000;

/** What the endpoint needs from the edge's token gate and the store. */
export interface DyndnsAccounts {
  /** Checks a password (a token) sent from `address`, throttled per network. */
  check(token: string, address: string): Promise<TokenVerdict>;
  /** Counts a failure found after the check: a good token of another account than the user. */
  recordFailure(address: string): void;
  nameOwner(label: string): Promise<number | null>;
}

/** The addresses one update sets; empty only when the caller's address is unknown (it left). */
interface WantedAddresses {
  readonly A?: string;
  readonly AAAA?: string;
}

/** The credentials of an `Authorization: Basic` header, or null when there is none or it is malformed. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | null {
  const match = /^Basic[ \t]+([A-Za-z0-9+/]{1,1024}={0,2})[ \t]*$/i.exec(header ?? '');
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * What to set from `myip` (`1.2.3.4`, `2001:db8::1` or both, comma-separated). As dyndns2
 * defines it, a malformed value is ignored and the caller's own address used instead: the
 * socket's peer, never a forwarded-for header (any client could write one).
 */
export function wantedAddresses(myip: string | undefined, peer: string | undefined): WantedAddresses {
  let A: string | undefined;
  let AAAA: string | undefined;
  for (const part of (myip ?? '').split(',').map((item) => item.trim())) {
    if (A === undefined && net.isIPv4(part)) A = part;
    else if (AAAA === undefined && net.isIPv6(part) && !part.includes('%')) AAAA = canonicalValue('AAAA', part);
  }
  if (A !== undefined || AAAA !== undefined) return { A, AAAA };
  const address = plainAddress(peer ?? '');
  if (net.isIPv4(address)) return { A: address };
  if (net.isIPv6(address) && !address.includes('%')) return { AAAA: canonicalValue('AAAA', address) };
  return {};
}

/** The hostnames of `?hostname=a,b` (also when the parameter is repeated), empty ones dropped. */
function requestedHostnames(raw: unknown): string[] {
  return (Array.isArray(raw) ? raw.join(',') : typeof raw === 'string' ? raw : '')
    .split(',').map((item) => item.trim()).filter((item) => item !== '');
}

function addressText(wanted: WantedAddresses): string {
  return [wanted.A, wanted.AAAA].filter((value) => value !== undefined).join(',');
}

/**
 * `GET /nic/update?hostname=<fqdn>[,<fqdn>…]&myip=<ip>[,<ip>]` — the dyndns2 update protocol
 * that routers and ddclient speak, with HTTP Basic auth (user = account name, password = one
 * of its tokens). Answers one line per hostname, in order: `good <ip>`, `nochg <ip>`,
 * `notfqdn`, `nohost` (not a name or sub-name of this account), `abuse` (more than
 * {@link MAX_CHANGES_PER_HOUR} changing updates in the last hour), `dnserr`; or one line for
 * the whole request: `badauth` (HTTP 401), `notfqdn` (no hostname), `numhost` (more than
 * {@link MAX_HOSTNAMES_PER_UPDATE}), `911` (the edge failed). A good update replaces the
 * owner's A (or AAAA) records through the ZoneEditor, so DNS answers it at once; an update to
 * the addresses already there is `nochg` and writes nothing.
 *
 * While the caller's network has had too many rejected passwords (the edge's token gate), the
 * password is not checked and every hostname is answered `abuse` ("temporarily blocked for
 * updates" in dyndns2) with a Retry-After header, in a 200: ddclient 3.10 reads the body of
 * 2xx answers only (it drops a 429 without a word), and after `abuse` waits its
 * min-error-interval (5 min) before trying again.
 */
export function createDyndnsEndpoint(deps: {
  domain: string;
  accounts: DyndnsAccounts;
  editor: ZoneEditor;
  directory: Pick<NameDirectory, 'recordsAt'>;
  logger: Logger;
  /** The client of a request: its TCP peer, unless that is a trusted proxy. */
  clientAddress?: (req: Request) => string;
  maxChangesPerHour?: number;
  now?: () => number;
}) {
  const { domain, accounts, editor, directory, logger } = deps;
  const throttle = new ChangeThrottle(deps.maxChangesPerHour ?? MAX_CHANGES_PER_HOUR, HOUR_MS, deps.now);

  const answer = (res: Response, lines: string[], status = 200): void => {
    res.status(status).type('text/plain').set('Cache-Control', 'no-store').send(`${lines.join('\n')}\n`);
  };

  /** The owner (`alice`, `www.alice`) a hostname names, or the per-host answer refusing it. */
  function ownerOf(hostname: string): { owner: string; label: string } | 'notfqdn' | 'nohost' {
    const name = hostname.toLowerCase().replace(/\.$/, '');
    if (!name.includes('.') || name.length > 253 || !/^[a-z0-9_-]+(?:\.[a-z0-9_-]+)+$/.test(name)) return 'notfqdn';
    if (!name.endsWith(`.${domain}`)) return 'nohost';
    const owner = name.slice(0, -(domain.length + 1));
    try {
      return { owner, label: parseOwner(owner).label };
    } catch {
      return 'nohost';
    }
  }

  function unchanged(owner: string, type: RecordType, value: string | undefined): boolean {
    if (value === undefined) return true;
    const present = directory.recordsAt(owner).filter((record) => record.type === type);
    return present.length === 1 && present[0]!.value === value;
  }

  async function updateOne(account: AccountInfo, hostname: string, wanted: WantedAddresses): Promise<string> {
    const target = ownerOf(hostname);
    if (typeof target === 'string') return target;
    if ((await accounts.nameOwner(target.label)) !== account.id) return 'nohost';
    const ips = addressText(wanted);
    if (unchanged(target.owner, 'A', wanted.A) && unchanged(target.owner, 'AAAA', wanted.AAAA)) return `nochg ${ips}`;
    if (!throttle.tryTake(account.id)) return 'abuse';
    try {
      if (wanted.A !== undefined) await editor.setRecords(account.id, target.owner, 'A', [wanted.A]);
      if (wanted.AAAA !== undefined) await editor.setRecords(account.id, target.owner, 'AAAA', [wanted.AAAA]);
    } catch (error) {
      if (isUdnsError(error, 'not_found') || isUdnsError(error, 'forbidden')) return 'nohost';
      // record_conflict (the host is a CNAME) and record_limit land here too: the member
      // must change their records first, and dyndns2 has no closer code.
      const log = isUdnsError(error) ? logger.info.bind(logger) : logger.error.bind(logger);
      log({ err: error, account: account.name, hostname }, 'dyndns update failed');
      return 'dnserr';
    }
    logger.info({ account: account.name, hostname, ips }, 'dyndns update');
    return `good ${ips}`;
  }

  return async function dyndnsUpdate(req: Request, res: Response): Promise<void> {
    const credentials = basicCredentials(req.headers.authorization);
    const hostnames = requestedHostnames(req.query.hostname);
    const address = deps.clientAddress?.(req) ?? req.socket.remoteAddress ?? '';
    let verdict: TokenVerdict | null = null;
    try {
      verdict = credentials === null ? null : await accounts.check(credentials.password, address);
    } catch (error) {
      logger.error({ err: error }, 'dyndns: token check failed');
      return answer(res, ['911']);
    }
    if (verdict?.kind === 'throttled') {
      res.set('Retry-After', String(verdict.retryAfterSeconds));
      const count = Math.min(Math.max(hostnames.length, 1), MAX_HOSTNAMES_PER_UPDATE);
      return answer(res, Array.from({ length: count }, () => 'abuse'));
    }
    const account = verdict?.kind === 'accepted' ? verdict.account : null;
    if (account === null || account.name !== credentials?.user) {
      if (account !== null) accounts.recordFailure(address);
      res.set('WWW-Authenticate', 'Basic realm="udns", charset="UTF-8"');
      return answer(res, ['badauth'], 401);
    }

    if (hostnames.length === 0) return answer(res, ['notfqdn']);
    if (hostnames.length > MAX_HOSTNAMES_PER_UPDATE) return answer(res, ['numhost']);

    const myip = typeof req.query.myip === 'string' ? req.query.myip : undefined;
    const wanted = wantedAddresses(myip, address);
    if (wanted.A === undefined && wanted.AAAA === undefined) return answer(res, ['911']);
    const lines: string[] = [];
    try {
      for (const hostname of hostnames) lines.push(await updateOne(account, hostname, wanted));
    } catch (error) {
      logger.error({ err: error, account: account.name }, 'dyndns update failed');
      return answer(res, ['911']);
    }
    answer(res, lines);
  };
}
