import { createHash, createHmac, scryptSync, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { SHARE_COOKIE_NAME } from '../../protocol/index.js';

/** How long a login lasts (capped by the share's expiry). */
const SESSION_SECONDS = 7 * 24 * 3600;

/** What a request brought to prove it knows the password. */
export type Credentials = 'valid' | 'absent' | 'wrong';

/**
 * The password of a protected share, and the sessions a right password buys.
 *
 * A browser logs in once through the form and then carries a cookie: the session's expiry
 * signed with a key derived from the password (scrypt) and the share's folder. It survives an
 * agent restart (a resumed download keeps working) and dies when the password changes. Other
 * clients (curl, `udns get`, WebDAV) send HTTP Basic with any user name.
 */
export class SharePassword {
  private readonly passwordDigest: Buffer;
  private readonly sessionKey: Buffer;

  constructor(password: string, shareRoot: string) {
    this.passwordDigest = sha256(password);
    this.sessionKey = scryptSync(password, `udns-share-session:${shareRoot}`, 32);
  }

  /** Whether `candidate` is the password (constant time). */
  matches(candidate: string): boolean {
    return timingSafeEqual(sha256(candidate), this.passwordDigest);
  }

  /** Looks for HTTP Basic first (explicit), then the session cookie. */
  check(req: http.IncomingMessage, nowMs = Date.now()): Credentials {
    const basic = basicPassword(req.headers.authorization);
    if (basic !== null) return this.matches(basic) ? 'valid' : 'wrong';
    const session = readCookie(req.headers.cookie, SHARE_COOKIE_NAME);
    if (session === null) return 'absent';
    return this.isValidSession(session, nowMs) ? 'valid' : 'absent';
  }

  /** A `Set-Cookie` value for a new session; `secure` when the visitor came over HTTPS. */
  sessionCookie(secure: boolean, notAfterMs: number | null, nowMs = Date.now()): string {
    const lifetime = Math.min(SESSION_SECONDS, notAfterMs === null ? Infinity : Math.max(1, Math.floor((notAfterMs - nowMs) / 1000)));
    const expires = Math.floor(nowMs / 1000) + lifetime;
    const value = `${expires}.${this.sign(expires)}`;
    return `${SHARE_COOKIE_NAME}=${value}; Path=/; Max-Age=${lifetime}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
  }

  /** A `Set-Cookie` value that ends the session. */
  static clearedCookie(secure: boolean): string {
    return `${SHARE_COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
  }

  private isValidSession(value: string, nowMs: number): boolean {
    const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value);
    if (!match) return false;
    const expires = Number(match[1]);
    if (expires * 1000 <= nowMs) return false;
    const expected = Buffer.from(this.sign(expires));
    const given = Buffer.from(match[2]!);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private sign(expires: number): string {
    return createHmac('sha256', this.sessionKey).update(`session:${expires}`).digest('base64url');
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The password of an `Authorization: Basic` header (user name ignored), or null. */
export function basicPassword(header: string | undefined): string | null {
  const match = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? null : decoded.slice(colon + 1);
}

/** One cookie's value from a `Cookie` header, or null. */
export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
