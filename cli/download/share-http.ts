import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { UdnsError } from '../../protocol/index.js';
import type { EdgeTrust } from '../client-config.js';

/** How `udns get` reaches a share: TLS trust like the other commands, and the password once known. */
export interface ShareAccess {
  trust: EdgeTrust;
  /** Sent as HTTP Basic (user `udns`) on every request once set. */
  password?: string;
  /** Direct and push transfer paths (transfer-paths.ts); absent: every request goes to the URL's host. */
  transport?: ShareTransport;
}

/** Chooses, before each request, the connection it goes over. */
export interface ShareTransport {
  /** An agent whose connections carry plain HTTP to the share (direct, push), or null for the URL's own host (relay). */
  dispatcher(): Promise<http.Agent | null>;
}

/**
 * A stalled connection (no byte for this long) is given up and retried: an agent that went
 * away without closing its streams must not hang a download forever.
 */
export const SHARE_IDLE_TIMEOUT_MS = 20_000;

/** The user name `udns get` sends with HTTP Basic; shares ignore it. */
export const BASIC_USER = 'udns';

const UNTRUSTED = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;
/** Connection failures worth retrying: the edge or the agent restarting, a broken path. */
const TRANSIENT = /ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|ECONNABORTED|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|aborted|socket hang up|premature close|ERR_STREAM_PREMATURE_CLOSE|ERR_SSL_/i;

/**
 * Sends one request to a share and resolves with the response head; the caller consumes or
 * destroys the body. node:http(s) rather than fetch, which cannot be told to trust a private CA.
 * Connection failures become a UdnsError (`server_unreachable`, or `tls_untrusted`).
 */
export async function requestShare(
  url: URL,
  access: ShareAccess,
  options: { method?: string; headers?: Record<string, string>; idleTimeoutMs?: number } = {},
): Promise<http.IncomingMessage> {
  const agent = await access.transport?.dispatcher() ?? null;
  return sendRequest(url, access, options, agent);
}

function sendRequest(
  url: URL,
  access: ShareAccess,
  options: { method?: string; headers?: Record<string, string>; idleTimeoutMs?: number },
  /** A direct or push connection's agent: plain HTTP over its (already encrypted) socket. */
  agent: http.Agent | null,
): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const secure = url.protocol === 'https:' && agent === null;
    const headers: Record<string, string> = { 'user-agent': 'udns-get/0.1', ...options.headers };
    if (access.password !== undefined) headers.authorization = `Basic ${Buffer.from(`${BASIC_USER}:${access.password}`).toString('base64')}`;
    const req = (secure ? https : http).request(url, {
      method: options.method ?? 'GET',
      ...(agent === null ? { agent: false } : { agent, protocol: 'http:' }),
      timeout: options.idleTimeoutMs ?? SHARE_IDLE_TIMEOUT_MS,
      lookup: lookupWithLocalhost,
      headers,
      ...(secure ? { ca: access.trust.ca, rejectUnauthorized: !access.trust.insecure } : {}),
    }, (res) => {
      // The socket timeout keeps guarding the body; break the response so readers see an error.
      req.on('timeout', () => res.destroy(Object.assign(new Error('no data for a while'), { code: 'ETIMEDOUT' })));
      resolve(res);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (error) => reject(connectionError(url, error)));
    req.end();
  });
}

/**
 * `*.localhost` names are the loopback address (RFC 6761 §6.3), as browsers and curl resolve
 * them, whatever the system resolver says: a share on a local edge (`photos.localhost:8080`)
 * works in `udns get` as it does in a browser. Everything else goes to the system resolver.
 */
const lookupWithLocalhost: net.LookupFunction = (hostname, options, callback) => {
  if (!/\.localhost\.?$/i.test(hostname)) return dns.lookup(hostname, options, callback);
  const [address, family] = options.family === 6 ? ['::1', 6] : ['127.0.0.1', 4];
  if (options.all) (callback as unknown as (error: null, addresses: dns.LookupAddress[]) => void)(null, [{ address, family }]);
  else callback(null, address, family);
};

/** A connection-level failure (before or during a body) as one UdnsError naming the cause. */
export function connectionError(url: URL, error: unknown): UdnsError {
  if (error instanceof UdnsError) return error;
  const errno = error as NodeJS.ErrnoException;
  const code = errno.code ?? errno.message ?? String(error);
  if (UNTRUSTED.test(code)) {
    return new UdnsError('tls_untrusted', `the certificate of ${url.origin} is not trusted (${code}): pass --ca <file> for a private CA, or --insecure to skip the check`, { cause: error });
  }
  return new UdnsError('server_unreachable', `cannot reach ${url.origin} (${code})`, { cause: error });
}

/** Whether a failure is worth another attempt: a broken or refused connection, not a bad name or certificate. */
export function isTransient(error: unknown): boolean {
  if (error instanceof RetryableStatus) return true;
  if (!(error instanceof UdnsError) || error.code !== 'server_unreachable') return false;
  const cause = error.cause as NodeJS.ErrnoException | undefined;
  return TRANSIENT.test(`${cause?.code ?? ''} ${cause?.message ?? ''}`);
}

/** A 502/503/504 from the edge: the agent is restarting or the PC is briefly offline. */
export class RetryableStatus extends UdnsError {
  constructor(url: URL, readonly status: number) {
    super('server_unreachable', `${url.host} answered ${status}: the sharing PC is offline or restarting`);
  }
}

/** A 401 to a request sent without a password: the caller may ask for one and try again. */
export class PasswordRequired extends UdnsError {
  constructor(url: URL) {
    super('unauthorized', `${url.host} is password-protected: pass --password <password> or set UDNS_SHARE_PASSWORD`);
  }
}

/**
 * A 402 from a share: the file is for sale (issue 11); `udns get` buys it through the edge's
 * escrow (cli/exchange/). `price` is the share's `X-Udns-Price` header when it sent one.
 */
export class PaymentRequiredError extends UdnsError {
  constructor(url: URL, readonly price: number | undefined) {
    super('payment_required', `${decodedPath(url)} on ${url.host} is for sale${price === undefined ? '' : ` (${price} credits)`}: \`udns get\` buys it`);
  }
}

/**
 * Turns a share's non-success answer into one clear error (and drains the body). Success
 * (2xx, and 3xx, 416 that callers handle themselves) passes through untouched.
 */
export async function checkShareStatus(res: http.IncomingMessage, url: URL, access: ShareAccess): Promise<void> {
  const status = res.statusCode ?? 0;
  if (status < 400 || status === 416) return;
  if (status === 404) throw await notFound(res, url, access);
  res.resume();
  if (status === 402) {
    const price = res.headers['x-udns-price'];
    throw new PaymentRequiredError(url, typeof price === 'string' && /^\d{1,13}$/.test(price) && Number(price) > 0 ? Number(price) : undefined);
  }
  if (status === 502 || status === 503 || status === 504) throw new RetryableStatus(url, status);
  if (status === 401) {
    if (access.password === undefined) throw new PasswordRequired(url);
    throw new UdnsError('unauthorized', `wrong password for ${url.host}`);
  }
  if (status === 429) {
    const wait = Number(res.headers['retry-after']);
    throw new UdnsError('unauthorized', `too many attempts, retry in ${Number.isFinite(wait) && wait > 0 ? Math.ceil(wait) : 60} s`);
  }
  if (status === 400) throw new UdnsError('bad_request', `${url.host} refused the request for ${decodedPath(url)} (400): check the URL`);
  if (status === 403) throw new UdnsError('forbidden', `${url.host} refused access to ${decodedPath(url)}`);
  if (status === 410) throw new UdnsError('not_found', `the share at ${url.host} has expired`);
  throw new UdnsError('internal', `${url.host} answered ${status} for ${decodedPath(url)}`);
}

/** How the edge's own 404 for a host that is no name of its zone begins, in plain text. */
const NO_SUCH_NAME = /^404 No such name: (.+?)\.?\s*$/;

/**
 * A 404 said precisely: the edge's own (the name does not exist at all) or the share's (it has
 * no such file). Only the body tells them apart, so a HEAD's 404 is asked again as a GET. An
 * expired share answers 410, not 404.
 */
async function notFound(res: http.IncomingMessage, url: URL, access: ShareAccess): Promise<UdnsError> {
  let answer = res;
  if ((res as { req?: http.ClientRequest }).req?.method === 'HEAD') {
    res.resume();
    answer = await requestShare(url, access, { headers: { accept: 'text/plain' } });
  }
  const type = answer.headers['content-type'] ?? '';
  const body = answer.statusCode === 404 && /^text\/plain/i.test(type) ? await readSmallBody(answer, url, 4096).catch(() => '') : '';
  answer.destroy();
  const edgeSays = NO_SUCH_NAME.exec(body);
  if (edgeSays) return new UdnsError('not_found', `no such name: ${edgeSays[1]}`);
  return new UdnsError('not_found', `${decodedPath(url)} is not on ${url.host}`);
}

/** Reads a small body (JSON answers) with a cap, so a file served by mistake is not slurped. */
export function readSmallBody(res: http.IncomingMessage, url: URL, maxBytes = 16 * 1024 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) res.destroy(new UdnsError('protocol_violation', `${url.host} sent more than ${maxBytes} bytes where a short answer was expected`));
      else chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', (error) => reject(connectionError(url, error)));
  });
}

/** The URL's path, decoded for messages (`/docs/한글 파일.txt`). */
export function decodedPath(url: URL): string {
  try {
    return decodeURIComponent(url.pathname);
  } catch {
    return url.pathname;
  }
}
