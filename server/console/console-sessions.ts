import { createHash, randomBytes } from 'node:crypto';
import { storeDatabase, type AccountStore } from '../accounts/account-store.js';
import { hashToken } from '../accounts/token-secret.js';
import type { PrismaClient } from '../accounts/generated/client.js';

/*
 * The console's sign-ins, in the member database so that several edges share them: sessions
 * (the browser's cookie) and one-time sign-in codes (`udns console`). Both are 256 random bits
 * and only their SHA-256 is stored: a copy of the database signs nobody in.
 */

/** A session ends this long after its last request. */
export const CONSOLE_IDLE_MS = 2 * 3600_000;
/** …and this long after it began, however busy. */
export const CONSOLE_ABSOLUTE_MS = 12 * 3600_000;
/** A `udns console` code is good once, for this long. */
export const CONSOLE_CODE_TTL_MS = 5 * 60_000;
/** lastSeenAt is written at most this often per session, so most requests only read. */
const LAST_SEEN_RESOLUTION_MS = 60_000;
/** Expired rows are deleted at most this often (on a sign-in). */
const SWEEP_INTERVAL_MS = 10 * 60_000;

// base64url of 32 bytes without padding: always 43 characters.
const SECRET_FORMAT = /^[A-Za-z0-9_-]{43}$/;

/** Tuning, for tests; the defaults are the edge's. */
export interface ConsoleSessionOptions {
  readonly idleMs?: number;
  readonly absoluteMs?: number;
  readonly codeTtlMs?: number;
  readonly now?: () => number;
}

/** A live session as a request sees it. */
export interface ConsoleSession {
  readonly accountId: number;
  /** The hash the row is kept under (never the cookie). */
  readonly hash: string;
  /** The token every form of this session carries (see {@link csrfToken}). */
  readonly csrf: string;
  readonly expiresAt: Date;
}

/** True when `value` has the exact shape of a session id or a code, checked before any hashing or lookup. */
export function isWellFormedSecret(value: string): boolean {
  return value.length === 43 && SECRET_FORMAT.test(value);
}

/** Hex SHA-256: what the database keeps of a session id or code (the same hash as of API tokens). */
export const hashSecret: (secret: string) => string = hashToken;

/**
 * The CSRF token of a session: derived from the session id one way (another hash than the one
 * stored), so a page that shows it gives nothing of the cookie away, and the stored hash gives
 * nothing of it.
 */
export function csrfToken(sessionId: string): string {
  return createHash('sha256').update(`udns-console-csrf\0${sessionId}`, 'utf8').digest('base64url');
}

/** Sessions and one-time codes; see the file comment. */
export class ConsoleSessions {
  private readonly prisma: PrismaClient;
  private readonly idleMs: number;
  private readonly absoluteMs: number;
  readonly codeTtlMs: number;
  private readonly now: () => number;
  private lastSweepMs = Number.NEGATIVE_INFINITY;

  constructor(store: AccountStore, options: ConsoleSessionOptions = {}) {
    this.prisma = storeDatabase(store).prisma;
    this.idleMs = options.idleMs ?? CONSOLE_IDLE_MS;
    this.absoluteMs = options.absoluteMs ?? CONSOLE_ABSOLUTE_MS;
    this.codeTtlMs = options.codeTtlMs ?? CONSOLE_CODE_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  /** A new one-time code for the account; returned once, never stored in clear. */
  async issueCode(accountId: number): Promise<{ code: string; expiresAt: Date }> {
    const code = randomBytes(32).toString('base64url');
    const now = this.now();
    const expiresAt = new Date(now + this.codeTtlMs);
    await this.prisma.consoleLoginCode.create({ data: { hash: hashSecret(code), accountId, createdAt: new Date(now), expiresAt } });
    return { code, expiresAt };
  }

  /**
   * The account a code was issued for, once: the code is deleted by the same call, so a second
   * redemption (or a concurrent one, from another edge) gets null. Malformed, unknown and
   * expired codes get null too.
   */
  async redeemCode(code: string): Promise<number | null> {
    if (typeof code !== 'string' || !isWellFormedSecret(code)) return null;
    const hash = hashSecret(code);
    const row = await this.prisma.consoleLoginCode.findUnique({ where: { hash }, select: { accountId: true, expiresAt: true } });
    if (row === null) return null;
    // Whoever deletes the row redeems it: one winner however many race.
    const { count } = await this.prisma.consoleLoginCode.deleteMany({ where: { hash } });
    if (count !== 1 || row.expiresAt.getTime() <= this.now()) return null;
    return row.accountId;
  }

  /** Starts a session; `id` goes into the cookie and nowhere else. */
  async open(accountId: number): Promise<{ id: string; session: ConsoleSession }> {
    await this.sweep();
    const id = randomBytes(32).toString('base64url');
    const now = this.now();
    const hash = hashSecret(id);
    const expiresAt = new Date(now + this.absoluteMs);
    await this.prisma.consoleSession.create({ data: { hash, accountId, createdAt: new Date(now), lastSeenAt: new Date(now), expiresAt } });
    return { id, session: { accountId, hash, csrf: csrfToken(id), expiresAt } };
  }

  /** The session of a cookie value, or null (malformed, unknown, idle too long, too old: the last two are deleted). */
  async resume(id: string): Promise<ConsoleSession | null> {
    if (typeof id !== 'string' || !isWellFormedSecret(id)) return null;
    const hash = hashSecret(id);
    const row = await this.prisma.consoleSession.findUnique({ where: { hash } });
    if (row === null) return null;
    const now = this.now();
    if (row.expiresAt.getTime() <= now || row.lastSeenAt.getTime() + this.idleMs <= now) {
      await this.prisma.consoleSession.deleteMany({ where: { hash } });
      return null;
    }
    if (row.lastSeenAt.getTime() + LAST_SEEN_RESOLUTION_MS <= now) {
      await this.prisma.consoleSession.updateMany({ where: { hash }, data: { lastSeenAt: new Date(now) } });
    }
    return { accountId: row.accountId, hash, csrf: csrfToken(id), expiresAt: row.expiresAt };
  }

  /** Signs one session out (sign-out). */
  async end(session: Pick<ConsoleSession, 'hash'>): Promise<void> {
    await this.prisma.consoleSession.deleteMany({ where: { hash: session.hash } });
  }

  /** Ends every session and code of an account (suspension); returns how many sessions. */
  async endAll(accountId: number): Promise<number> {
    await this.prisma.consoleLoginCode.deleteMany({ where: { accountId } });
    const { count } = await this.prisma.consoleSession.deleteMany({ where: { accountId } });
    return count;
  }

  /** Sessions stored right now (for tests and the operator). */
  count(accountId?: number): Promise<number> {
    return this.prisma.consoleSession.count(accountId === undefined ? undefined : { where: { accountId } });
  }

  /** Deletes expired codes and sessions, at most once per sweep interval. */
  private async sweep(): Promise<void> {
    const now = this.now();
    if (now - this.lastSweepMs < SWEEP_INTERVAL_MS) return;
    this.lastSweepMs = now;
    const cutoff = new Date(now);
    await this.prisma.consoleLoginCode.deleteMany({ where: { expiresAt: { lte: cutoff } } });
    await this.prisma.consoleSession.deleteMany({ where: { OR: [{ expiresAt: { lte: cutoff } }, { lastSeenAt: { lte: new Date(now - this.idleMs) } }] } });
  }
}
