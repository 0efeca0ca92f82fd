import fs from 'node:fs';
import path from 'node:path';
import { UdnsError } from '../../protocol/errors.js';
import { validateName } from '../../protocol/names.js';
import { createAdapterFactory, resolveDatabaseTarget, type DatabaseTarget, type Dialect } from './database-target.js';
import { PrismaClient } from './generated/client.js';
import { migrateDatabase } from './migrator.js';
import { PrismaRecordStore, type DnsRecordInfo, type RecordChange, type RecordInput, type RecordStore } from './record-store.js';
import type { RecordType } from './record-rules.js';
import { displayPrefix, generateToken, hashToken, isWellFormedToken } from './token-secret.js';

/** A member as the rest of the edge sees it. */
export interface AccountInfo {
  readonly id: number;
  /** Login name: 1-32 lowercase letters, digits or '-'. */
  readonly name: string;
  readonly createdAt: Date;
}

/** A token's public facts; the secret and its hash never leave the store. */
export interface TokenInfo {
  readonly id: number;
  /** First characters of the token (`udns_AbCdE`), to tell tokens apart. */
  readonly prefix: string;
  readonly label: string;
  readonly createdAt: Date;
  /** Last successful authentication, kept to the minute. */
  readonly lastUsedAt: Date | null;
  readonly revokedAt: Date | null;
}

/** A name (DNS label) an account owns. */
export interface NameInfo {
  readonly label: string;
  readonly createdAt: Date;
}

/** Where the member database is; see {@link openAccountStore}. */
export interface AccountStoreOptions {
  /** The edge's data directory; holds `udns.db` when `databaseUrl` is unset. */
  readonly dataDir: string;
  /** `file:/path/udns.db` (SQLite) or `postgresql://…`; unset means `<dataDir>/udns.db`. */
  readonly databaseUrl?: string | undefined;
}

/** Members, their tokens, their names and the DNS records under them. Every method returns plain objects. */
export interface AccountStore extends RecordStore {
  countAccounts(): Promise<number>;
  /**
   * Creates an account with a first token; the token is returned once and never again.
   * @throws UdnsError `bad_request` for an invalid or existing name
   */
  createAccount(name: string): Promise<{ account: AccountInfo; token: string }>;
  listAccounts(): Promise<AccountInfo[]>;
  /**
   * Issues another token for an account; the secret is returned once and never again.
   * @throws UdnsError `not_found` for an unknown account, `bad_request` for a bad label
   */
  createToken(accountName: string, label?: string): Promise<{ token: string; info: TokenInfo }>;
  /** @throws UdnsError `not_found` for an unknown account */
  listTokens(accountName: string): Promise<TokenInfo[]>;
  /**
   * Revokes one token, picked by id, display prefix or the whole token. Revoking a revoked
   * token returns it unchanged.
   * @throws UdnsError `not_found` when the account has no such token, `bad_request` when a
   *   prefix matches several
   */
  revokeToken(accountName: string, idOrPrefix: string): Promise<TokenInfo>;
  /** Revokes every live token of an account; returns how many. @throws UdnsError `not_found` */
  revokeAllTokens(accountName: string): Promise<number>;
  /** The token's account, or null for an unknown, revoked or malformed token. */
  authenticate(token: string): Promise<AccountInfo | null>;
  /**
   * Gives `label` to the account unless another account has it; atomic across processes.
   * @throws UdnsError `name_taken`, `name_invalid`, `name_reserved`, or `not_found` for an
   *   unknown account
   */
  claimName(accountId: number, label: string): Promise<'claimed' | 'already-owned'>;
  /** The id of the account owning `label`, or null. */
  nameOwner(label: string): Promise<number | null>;
  listNames(accountId: number): Promise<NameInfo[]>;
  /** Every claimed label, sorted, for the DNS server's cache. */
  listAllNames(): Promise<string[]>;
  /**
   * Gives a name up; its DNS records go with it (foreign-key cascade).
   * @throws UdnsError `not_found` when the account does not own `label`
   */
  releaseName(accountId: number, label: string): Promise<void>;
  /** Closes the database connection. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * The connection behind an open store, for the edge's other tables in the same database
 * (server/search/, server/transfers/): one connection pool, one migration history.
 */
export interface StoreDatabase {
  readonly prisma: PrismaClient;
  readonly dialect: Dialect;
}

const storeDatabases = new WeakMap<AccountStore, StoreDatabase>();

/** The database of a store made by {@link openAccountStore}. @throws UdnsError `internal` for any other object */
export function storeDatabase(store: AccountStore): StoreDatabase {
  const database = storeDatabases.get(store);
  if (database === undefined) throw new UdnsError('internal', 'storeDatabase: not a store opened by openAccountStore');
  return database;
}

/** lastUsedAt is written at most this often per token, so authentication is mostly a read. */
export const LAST_USED_RESOLUTION_MS = 60_000;

const ACCOUNT_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;
const TOKEN_LABEL = /^[^\p{Cc}]{0,64}$/u;
const MAX_INT4 = 2_147_483_647;

const accountFields = { id: true, name: true, createdAt: true } as const;
const tokenFields = { id: true, prefix: true, label: true, createdAt: true, lastUsedAt: true, revokedAt: true } as const;

/**
 * Opens the member database, applying pending migrations first (see migrator.ts): SQLite at
 * `<dataDir>/udns.db` (directory created with mode 0700) or the file of a `file:` URL, or
 * PostgreSQL for a `postgres://` / `postgresql://` URL.
 * @throws UdnsError `config_invalid` for an unsupported URL or an inconsistent migration history
 */
export async function openAccountStore(options: AccountStoreOptions): Promise<AccountStore> {
  const target = resolveDatabaseTarget(options);
  if (target.dialect === 'sqlite') {
    const dir = path.dirname(target.file);
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new UdnsError('config_invalid', `cannot create ${dir} for the member database: ${(error as Error).message}; point dataDir or databaseUrl at a writable place`, { cause: error });
    }
  }
  await migrateDatabase(target);
  const prisma = await createClient(target);
  try {
    await prisma.$connect();
  } catch (error) {
    await prisma.$disconnect().catch(() => undefined);
    throw error;
  }
  const store = new PrismaAccountStore(prisma);
  storeDatabases.set(store, { prisma, dialect: target.dialect });
  return store;
}

async function createClient(target: DatabaseTarget): Promise<PrismaClient> {
  const adapter = createAdapterFactory(target, { foreignKeys: true });
  if (target.dialect === 'sqlite') return new PrismaClient({ adapter });
  const { PrismaClient: PostgresClient } = await import('./generated-postgres/client.js');
  // Both clients come from the same models and differ only in provider; the calls below
  // exist with identical shapes in both.
  return new PostgresClient({ adapter }) as unknown as PrismaClient;
}

function prismaCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

const UNIQUE_VIOLATION = 'P2002';
const FOREIGN_KEY_VIOLATION = 'P2003';

function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

class PrismaAccountStore implements AccountStore {
  readonly #prisma: PrismaClient;
  readonly #records: PrismaRecordStore;
  #closed = false;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
    this.#records = new PrismaRecordStore(prisma);
  }

  listRecords(accountId: number, owner?: string): Promise<DnsRecordInfo[]> {
    return this.#records.listRecords(accountId, owner);
  }

  addRecord(accountId: number, owner: string, record: RecordInput): Promise<RecordChange & { record: DnsRecordInfo }> {
    return this.#records.addRecord(accountId, owner, record);
  }

  setRecords(accountId: number, owner: string, type: RecordType, values: readonly string[], ttl?: number): Promise<RecordChange> {
    return this.#records.setRecords(accountId, owner, type, values, ttl);
  }

  removeRecords(accountId: number, owner: string, type?: RecordType, value?: string): Promise<RecordChange & { removed: number }> {
    return this.#records.removeRecords(accountId, owner, type, value);
  }

  allRecords(): Promise<DnsRecordInfo[]> {
    return this.#records.allRecords();
  }

  countAccounts(): Promise<number> {
    return this.#prisma.account.count();
  }

  async createAccount(name: string): Promise<{ account: AccountInfo; token: string }> {
    if (!ACCOUNT_NAME.test(name)) {
      throw new UdnsError('bad_request', `invalid account name ${quoted(name)}: use 1-32 lowercase letters, digits or '-', not starting with '-'`);
    }
    const token = generateToken();
    try {
      const account = await this.#prisma.account.create({
        data: { name, tokens: { create: { hash: hashToken(token), prefix: displayPrefix(token), label: 'initial' } } },
        select: accountFields,
      });
      return { account: { ...account }, token };
    } catch (error) {
      if (prismaCode(error) === UNIQUE_VIOLATION) throw new UdnsError('bad_request', `account ${name} already exists`, { cause: error });
      throw error;
    }
  }

  async listAccounts(): Promise<AccountInfo[]> {
    const rows = await this.#prisma.account.findMany({ select: accountFields, orderBy: { id: 'asc' } });
    return rows.map((row) => ({ ...row }));
  }

  async createToken(accountName: string, label = ''): Promise<{ token: string; info: TokenInfo }> {
    if (!TOKEN_LABEL.test(label)) throw new UdnsError('bad_request', 'invalid token label: use at most 64 characters, no control characters');
    const account = await this.#requireAccount(accountName);
    const token = generateToken();
    try {
      const row = await this.#prisma.token.create({
        data: { accountId: account.id, hash: hashToken(token), prefix: displayPrefix(token), label },
        select: tokenFields,
      });
      return { token, info: { ...row } };
    } catch (error) {
      if (prismaCode(error) === FOREIGN_KEY_VIOLATION) throw new UdnsError('not_found', `no account ${quoted(accountName)}`, { cause: error });
      throw error;
    }
  }

  async listTokens(accountName: string): Promise<TokenInfo[]> {
    const account = await this.#requireAccount(accountName);
    const rows = await this.#prisma.token.findMany({ where: { accountId: account.id }, select: tokenFields, orderBy: { id: 'asc' } });
    return rows.map((row) => ({ ...row }));
  }

  async revokeToken(accountName: string, idOrPrefix: string): Promise<TokenInfo> {
    const account = await this.#requireAccount(accountName);
    const wholeToken = isWellFormedToken(idOrPrefix);
    // Never echo a whole token back into an error message (it may end up in a log).
    const shown = wholeToken ? 'that token' : `token ${quoted(idOrPrefix)}`;
    let where: { id: number } | { prefix: string } | { hash: string };
    if (wholeToken) where = { hash: hashToken(idOrPrefix) };
    else if (/^\d{1,10}$/.test(idOrPrefix) && Number(idOrPrefix) <= MAX_INT4) where = { id: Number(idOrPrefix) };
    else if (idOrPrefix.length > 0) where = { prefix: idOrPrefix };
    else throw new UdnsError('bad_request', 'give a token id or prefix to revoke');

    const matches = await this.#prisma.token.findMany({ where: { accountId: account.id, ...where }, select: tokenFields, take: 2 });
    const [match] = matches;
    if (match === undefined) throw new UdnsError('not_found', `account ${accountName} has no ${shown}`);
    if (matches.length > 1) throw new UdnsError('bad_request', `several tokens of ${accountName} start with ${quoted(idOrPrefix)}: revoke by id instead`);
    if (match.revokedAt !== null) return { ...match };
    // The revokedAt condition keeps the first revocation time if two requests race.
    await this.#prisma.token.updateMany({ where: { id: match.id, revokedAt: null }, data: { revokedAt: new Date() } });
    const row = await this.#prisma.token.findUniqueOrThrow({ where: { id: match.id }, select: tokenFields });
    return { ...row };
  }

  async revokeAllTokens(accountName: string): Promise<number> {
    const account = await this.#requireAccount(accountName);
    const { count } = await this.#prisma.token.updateMany({ where: { accountId: account.id, revokedAt: null }, data: { revokedAt: new Date() } });
    return count;
  }

  async authenticate(token: string): Promise<AccountInfo | null> {
    if (typeof token !== 'string' || !isWellFormedToken(token)) return null;
    // A unique-index lookup on the hash: response time depends on the hash, not on how much
    // of the secret matched.
    const row = await this.#prisma.token.findUnique({
      where: { hash: hashToken(token) },
      select: { id: true, revokedAt: true, lastUsedAt: true, account: { select: { ...accountFields, suspendedAt: true } } },
    });
    // A suspended account's tokens stop working everywhere at once (the console's operator view).
    if (row === null || row.revokedAt !== null || row.account.suspendedAt !== null) return null;
    const now = new Date();
    const cutoff = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
    if (row.lastUsedAt === null || row.lastUsedAt <= cutoff) {
      await this.#prisma.token.updateMany({
        where: { id: row.id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lte: cutoff } }] },
        data: { lastUsedAt: now },
      });
    }
    const { suspendedAt: _suspended, ...account } = row.account;
    return account;
  }

  async claimName(accountId: number, label: string): Promise<'claimed' | 'already-owned'> {
    const name = validateName(label);
    // Read first so a reconnecting agent re-claiming its name costs no failed insert; the
    // unique index on label settles races, after which the loop reads the winner.
    for (let attempt = 0; attempt < 3; attempt++) {
      const owner = await this.nameOwner(name);
      if (owner === accountId) return 'already-owned';
      if (owner !== null) throw new UdnsError('name_taken', `the name "${name}" belongs to another account`);
      try {
        await this.#prisma.name.create({ data: { label: name, accountId } });
        return 'claimed';
      } catch (error) {
        if (prismaCode(error) === FOREIGN_KEY_VIOLATION) throw new UdnsError('not_found', `no account #${accountId}`, { cause: error });
        if (prismaCode(error) !== UNIQUE_VIOLATION) throw error;
      }
    }
    throw new UdnsError('internal', `the name "${name}" changed owner repeatedly while claiming it: try again`);
  }

  async nameOwner(label: string): Promise<number | null> {
    const row = await this.#prisma.name.findUnique({ where: { label: label.toLowerCase() }, select: { accountId: true } });
    return row?.accountId ?? null;
  }

  async listNames(accountId: number): Promise<NameInfo[]> {
    const rows = await this.#prisma.name.findMany({ where: { accountId }, select: { label: true, createdAt: true }, orderBy: { label: 'asc' } });
    return rows.map((row) => ({ ...row }));
  }

  async listAllNames(): Promise<string[]> {
    const rows = await this.#prisma.name.findMany({ select: { label: true }, orderBy: { label: 'asc' } });
    return rows.map((row) => row.label);
  }

  async releaseName(accountId: number, label: string): Promise<void> {
    const name = label.toLowerCase();
    const { count } = await this.#prisma.name.deleteMany({ where: { label: name, accountId } });
    if (count === 0) throw new UdnsError('not_found', `the account does not own the name ${quoted(name)}`);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#prisma.$disconnect();
  }

  async #requireAccount(name: string): Promise<AccountInfo> {
    const account = await this.#prisma.account.findUnique({ where: { name }, select: accountFields });
    if (account === null) throw new UdnsError('not_found', `no account ${quoted(name)}`);
    return account;
  }
}
