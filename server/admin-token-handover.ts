import fs from 'node:fs';
import path from 'node:path';
import { UdnsError } from '../protocol/index.js';
import type { AccountInfo, AccountStore } from './accounts/account-store.js';
import { displayPrefix, hashToken, isWellFormedToken } from './accounts/token-secret.js';
import type { Logger } from './logger.js';
import type { TokenCheck } from './tunnel/tunnel-endpoint.js';

/** Name of the file in the data directory that holds the first-start admin token until it is used. */
export const ADMIN_TOKEN_FILE_NAME = 'admin-token';

/** The account an empty database gets on the edge's first start. */
export const ADMIN_ACCOUNT_NAME = 'admin';

type HandoverStore = Pick<AccountStore, 'countAccounts' | 'createAccount' | 'listTokens' | 'authenticate'>;

/**
 * Brings the first-start admin token to the person starting the edge, and to nobody else: it
 * never goes to stdout on its own (stdout may be journald or a container log; the CLI shows it
 * only on a terminal) but into `<dataDir>/admin-token`, created with O_EXCL and mode 0600, so
 * only the edge's own user reads it. The file is deleted when the token first authenticates
 * (that person has logged in, and the token now lives in their 0600 `udns login` config), so no
 * clear copy of an admin secret stays behind in backups of the data directory. Until then each
 * start names the file again: a token not seen the first time is not lost.
 */
export class AdminTokenHandover {
  /** Absolute path of the token file. */
  readonly file: string;
  /** The token check to serve with: the first success with the handed-over token deletes its file. */
  readonly tokens: TokenCheck;
  readonly #store: HandoverStore;
  readonly #logger: Logger;
  /** Hash of the token in the file while it has not been used, else null. */
  #pendingHash: string | null = null;

  constructor(store: HandoverStore, dataDir: string, logger: Logger) {
    this.file = path.resolve(dataDir, ADMIN_TOKEN_FILE_NAME);
    this.#store = store;
    this.#logger = logger;
    this.tokens = { authenticate: (token) => this.#authenticate(token) };
  }

  /**
   * On an empty database, creates the admin account and writes its token to the file, returning
   * the token; otherwise picks up a file still waiting from an earlier start, returning null.
   * Call it once everything listens: a start that fails on a taken port then creates nothing.
   */
  async issue(): Promise<string | null> {
    if ((await this.#store.countAccounts()) === 0) {
      const token = await this.#createAdmin();
      this.#pendingHash = hashToken(token);
      return token;
    }
    this.#pendingHash = await this.#unusedTokenInFile();
    return null;
  }

  /** The file while it holds a token that has not been used yet, else null. */
  pendingFile(): string | null {
    return this.#pendingHash === null ? null : this.file;
  }

  async #createAdmin(): Promise<string> {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    // A file beside an empty database names no account: an earlier database's, now worthless.
    // Removing it (rm removes a link, never its target) lets O_EXCL below stay strict.
    if (lstatOrNull(this.file) !== null) {
      fs.rmSync(this.file, { force: true });
      this.#logger.warn({ file: this.file }, 'removed an admin token file left by an earlier database');
    }
    let fd: number;
    try {
      // 'wx' is O_CREAT | O_EXCL: never written through a planted link, never over another file;
      // 0600 at creation, so there is no moment when the token is readable by others.
      fd = fs.openSync(this.file, 'wx', 0o600);
    } catch (error) {
      throw new UdnsError('config_invalid', `cannot create ${this.file} for the admin token: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; point dataDir at a writable place`, { cause: error });
    }
    let token: string;
    try {
      ({ token } = await this.#store.createAccount(ADMIN_ACCOUNT_NAME));
    } catch (error) {
      fs.closeSync(fd);
      fs.rmSync(this.file, { force: true });
      throw error;
    }
    try {
      fs.writeSync(fd, `${token}\n`);
      fs.fsyncSync(fd);
    } catch (error) {
      throw new UdnsError('internal', `created the admin account but could not write its token to ${this.file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): issue a new one with \`udns account token admin\``, { cause: error });
    } finally {
      fs.closeSync(fd);
    }
    this.#logger.info({ file: this.file }, 'created the admin account on an empty database; its token waits in the file until first used');
    return token;
  }

  /** The hash of the token in a file left by an earlier start, if that token was never used. */
  async #unusedTokenInFile(): Promise<string | null> {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.#logger.warn({ err: error, file: this.file }, 'cannot read the admin token file');
      return null;
    }
    const token = text.trim();
    if (!isWellFormedToken(token)) {
      this.#logger.warn({ file: this.file }, 'the admin token file does not hold a token; delete it');
      return null;
    }
    // Used or revoked already (an edge stopped before it could delete the file): nothing to hand over.
    const tokens = await this.#store.listTokens(ADMIN_ACCOUNT_NAME).catch(() => []);
    const entry = tokens.find((info) => info.prefix === displayPrefix(token));
    if (entry === undefined || entry.revokedAt !== null || entry.lastUsedAt !== null) {
      this.#remove('the admin token in the file was already used or revoked: deleted the file');
      return null;
    }
    return hashToken(token);
  }

  async #authenticate(token: string): Promise<AccountInfo | null> {
    const account = await this.#store.authenticate(token);
    if (account !== null && this.#pendingHash !== null && hashToken(token) === this.#pendingHash) {
      this.#pendingHash = null;
      this.#remove('the admin token was used: deleted its file');
    }
    return account;
  }

  #remove(why: string): void {
    try {
      fs.rmSync(this.file, { force: true });
      this.#logger.info({ file: this.file }, why);
    } catch (error) {
      this.#logger.warn({ err: error, file: this.file }, 'cannot delete the admin token file: delete it by hand');
    }
  }
}

/** lstat, so a dangling link counts as present; null when nothing is there. */
function lstatOrNull(file: string): fs.Stats | null {
  try {
    return fs.lstatSync(file);
  } catch {
    return null;
  }
}
