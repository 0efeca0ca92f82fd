import fs from 'node:fs';
import type { Command } from 'commander';
import { UdnsError } from '../../protocol/index.js';
import type { AccountStore } from '../../server/accounts/account-store.js';
import { say } from '../cli-output.js';
import { printJson, withJsonFlag } from '../json-output.js';
import { checkMemo, idempotencyKeyOf, parseAmount } from './credits-command.js';

interface StoreFlags {
  dataDir?: string;
  databaseUrl?: string;
}

/** How the edge is reached, for the `udns login` line printed with a new token. */
interface EdgeUrlFlags {
  domain?: string;
  httpPort?: string;
  publicUrl?: string;
}

/**
 * Opens the same database the edge uses (same --data-dir / --database-url rules) and works out
 * the edge's public URL the way the edge does (--public-url, else --domain and the ports, from
 * flags, UDNS_* variables and defaults).
 */
async function withStore<T>(flags: StoreFlags & EdgeUrlFlags, work: (store: AccountStore, edgeUrl: string, dataDir: string) => Promise<T>): Promise<T> {
  // Loaded here: Prisma would slow every other command's start-up.
  const { loadEdgeConfig } = await import('../../server/config.js');
  const { openAccountStore } = await import('../../server/accounts/account-store.js');
  const { PublicUrls } = await import('../../server/public-urls.js');
  const config = loadEdgeConfig({
    dataDir: flags.dataDir, databaseUrl: flags.databaseUrl, domain: flags.domain, httpPort: flags.httpPort, publicUrl: flags.publicUrl,
  }, process.env);
  const edgeUrl = new PublicUrls(config.domain, config.httpPort, config.publicUrl, config.httpsPort).apex();
  const store = await openAccountStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl });
  try {
    return await work(store, edgeUrl, config.dataDir);
  } finally {
    await store.close();
  }
}

function storeOptions(command: Command): Command {
  return command
    .option('--data-dir <dir>', 'the edge\'s data directory (default ./.udns)')
    .option('--database-url <url>', 'the edge\'s database URL (file: or postgres://)');
}

/** For commands that hand out a token: what the `udns login` line they print needs. */
function tokenOptions(command: Command): Command {
  return storeOptions(command)
    .option('--token-file <file>', 'write the token to this new file (mode 0600) instead of printing it')
    .option('--domain <domain>', 'the edge\'s --domain, for the login line printed (default: UDNS_DOMAIN, else localhost)')
    .option('--http-port <port>', 'the edge\'s --http-port, likewise (default: UDNS_HTTP_PORT, else 8080)')
    .option('--public-url <url>', 'the edge\'s --public-url, likewise (default: UDNS_PUBLIC_URL)');
}

/**
 * A new file only its owner may read, opened before the token exists: a file that cannot be
 * written must not cost a token nobody will ever see.
 */
function reserveTokenFile(file: string): number {
  try {
    return fs.openSync(file, 'wx', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UdnsError('config_invalid', code === 'EEXIST'
      ? `--token-file ${file} exists already: name a new file (a token is never written over another file)`
      : `cannot create --token-file ${file}: ${code ?? (error as Error).message}`);
  }
}

/**
 * Issues a token through `issue` and hands it to the operator once: into `--token-file`, or on
 * stdout. Either way the login line shown keeps the token out of argv (ps, shell history).
 */
async function handOverToken(
  flags: StoreFlags & EdgeUrlFlags & { tokenFile?: string },
  user: string,
  issue: (store: AccountStore) => Promise<{ token: string; heading: string }>,
): Promise<void> {
  const fd = flags.tokenFile === undefined ? null : reserveTokenFile(flags.tokenFile);
  let issued: { token: string; heading: string; edgeUrl: string };
  try {
    issued = await withStore(flags, async (store, edgeUrl) => ({ ...await issue(store), edgeUrl }));
  } catch (error) {
    if (fd !== null) {
      fs.closeSync(fd);
      fs.rmSync(flags.tokenFile!, { force: true });
    }
    throw error;
  }
  if (fd !== null) {
    fs.writeSync(fd, `${issued.token}\n`);
    fs.closeSync(fd);
    say(`${issued.heading}; the token is in ${flags.tokenFile} (mode 0600, shown nowhere else). Give ${user} the file; they log in with:`);
    say(`  udns login --server ${issued.edgeUrl} --token-file ${flags.tokenFile}`);
    return;
  }
  say(`${issued.heading}; the token, shown only this once (give it to ${user} privately):`);
  say(`  ${issued.token}`);
  say(`${user} logs in with \`udns login --server ${issued.edgeUrl}\` and pastes it when asked, or from a file: udns login - --server ${issued.edgeUrl} < <file>`);
}

/** `udns account …`: manage members beside the edge, on its database. */
export function registerAccountCommands(program: Command): void {
  const account = program.command('account').description('manage accounts and tokens (run beside the server)');

  tokenOptions(account.command('create')
    .description('create an account and hand its first token over (printed once, or into --token-file)')
    .argument('<user>', 'account name: lowercase letters, digits and -'))
    .action(async (user: string, flags: StoreFlags & EdgeUrlFlags & { tokenFile?: string }) => {
      await handOverToken(flags, user, async (store) => {
        const { account: created, token } = await store.createAccount(user);
        return { token, heading: `created account "${created.name}"` };
      });
    });

  tokenOptions(account.command('token')
    .description('issue another token for an account (printed once, or into --token-file)')
    .argument('<user>')
    .option('--label <label>', 'a note to tell this token apart', ''))
    .action(async (user: string, flags: StoreFlags & EdgeUrlFlags & { tokenFile?: string; label: string }) => {
      await handOverToken(flags, user, async (store) => {
        const { token, info } = await store.createToken(user, flags.label);
        return { token, heading: `issued token ${info.id} (${info.prefix}…) for "${user}"` };
      });
    });

  storeOptions(account.command('revoke-token')
    .description('revoke a token: refused at once for new connections; live tunnels end at the edge\'s next check (30 s)')
    .argument('<user>')
    .argument('<token>', 'token id, its shown prefix, or the whole token'))
    .action(async (user: string, which: string, flags: StoreFlags) => {
      const info = await withStore(flags, (store) => store.revokeToken(user, which));
      say(`revoked token ${info.id} (${info.prefix}…) of "${user}"`);
    });

  withJsonFlag(storeOptions(account.command('list').description('list accounts')))
    .action(async (flags: StoreFlags & { json?: boolean }) => {
      const accounts = await withStore(flags, (store) => store.listAccounts());
      if (flags.json) return printJson({ accounts: accounts.map(({ id, name, createdAt }) => ({ id, name, createdAt })) });
      for (const entry of accounts) say(`${entry.name}\tcreated ${entry.createdAt.toISOString()}`);
    });

  withJsonFlag(storeOptions(account.command('tokens').description('list an account\'s tokens (never the secrets)').argument('<user>')))
    .action(async (user: string, flags: StoreFlags & { json?: boolean }) => {
      const tokens = await withStore(flags, (store) => store.listTokens(user));
      // Listed field by field: a secret or hash added to TokenInfo one day stays out of the JSON.
      if (flags.json) return printJson({ tokens: tokens.map(({ id, prefix, label, createdAt, lastUsedAt, revokedAt }) => ({ id, prefix, label, createdAt, lastUsedAt, revokedAt })) });
      for (const token of tokens) {
        const state = token.revokedAt ? `revoked ${token.revokedAt.toISOString()}` : 'active';
        say(`${token.id}\t${token.prefix}…\t${state}\tlast used ${token.lastUsedAt?.toISOString() ?? 'never'}\t${token.label}`);
      }
    });

  withJsonFlag(storeOptions(account.command('limits')
    .description('show an account\'s limits, or set them (each: a value, unlimited, or default for the edge\'s setting)')
    .argument('<user>')
    .option('--names <n>', 'names the account may hold')
    .option('--bandwidth <rate>', 'bytes per second over all its routes, both directions together, e.g. 10MB/s or 512KiB/s')
    .option('--route-bandwidth <rate>', 'bytes per second for each of its routes (inside --bandwidth)')
    .option('--visitors <n>', 'concurrent visitor connections over all its routes')
    .option('--route-visitors <n>', 'concurrent visitor connections of each route')))
    .action(async (user: string, flags: StoreFlags & LimitFlags & { json?: boolean }) => {
      await accountLimits(user, flags);
    });

  withJsonFlag(storeOptions(account.command('grant')
    .description('grant new credits to an account (from the operator\'s issuance; recorded in the ledger)')
    .argument('<user>')
    .argument('<amount>', 'a whole number of credits')
    .option('--memo <text>', 'a note the member sees in `udns credits`')
    .option('--key <key>', 'idempotency key (default: a new random one); the same key again grants once')))
    .action(async (user: string, amountText: string, flags: StoreFlags & { json?: boolean; memo?: string; key?: string }) => {
      const amount = parseAmount(amountText);
      const memo = checkMemo(flags.memo);
      const idempotencyKey = idempotencyKeyOf(flags.key);
      const answer = await withStore(flags, (store, _edgeUrl, dataDir) => grantCredits(store, dataDir, { user, amount, memo, idempotencyKey }));
      if (flags.json) return printJson(answer);
      say(`${answer.replayed ? 'already granted' : 'granted'} ${amount} credits to "${user}" (movement ${answer.movement.id}, ledger entry ${answer.movement.ledgerSeq}, key ${idempotencyKey}); ${user} has ${answer.available} available`);
    });
}

/** A count flag of `udns account limits`: a whole number, `unlimited` (0) or `default` (null). @throws UdnsError `config_invalid` */
function limitCount(flag: string, text: string | undefined): number | null | undefined {
  if (text === undefined) return undefined;
  const word = text.trim().toLowerCase();
  if (word === 'default') return null;
  if (word === 'unlimited') return 0;
  if (!/^\d{1,8}$/.test(word) || Number(word) < 1) throw new UdnsError('config_invalid', `${flag}: "${text}" is not a number such as 10, nor unlimited or default`);
  return Number(word);
}

/** A rate flag of `udns account limits`: bytes per second, `unlimited` (0) or `default` (null). @throws UdnsError `config_invalid` */
async function limitRate(flag: string, text: string | undefined): Promise<number | null | undefined> {
  if (text === undefined) return undefined;
  const word = text.trim().toLowerCase();
  if (word === 'default') return null;
  if (word === 'unlimited') return 0;
  const { parseByteRate, BYTE_RATE_HINT } = await import('../../server/quotas/byte-rate.js');
  const rate = parseByteRate(text);
  if (rate === null) throw new UdnsError('config_invalid', `${flag}: "${text}" is not ${BYTE_RATE_HINT}, nor unlimited or default (at least 1KiB/s)`);
  return rate;
}

interface LimitFlags {
  names?: string;
  bandwidth?: string;
  routeBandwidth?: string;
  visitors?: string;
  routeVisitors?: string;
}

/** `udns account limits <user> [--names N] [--bandwidth R] …`: sets the given limits, then shows them all. */
async function accountLimits(user: string, flags: StoreFlags & LimitFlags & { json?: boolean }): Promise<void> {
  // Every flag checked before the database is opened: bad input changes nothing.
  const changes = {
    maxNames: limitCount('--names', flags.names),
    bandwidth: await limitRate('--bandwidth', flags.bandwidth),
    routeBandwidth: await limitRate('--route-bandwidth', flags.routeBandwidth),
    maxVisitors: limitCount('--visitors', flags.visitors),
    routeMaxVisitors: limitCount('--route-visitors', flags.routeVisitors),
  };
  const given = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
  const { openAccountLimits } = await import('../../server/quotas/account-limits.js');
  const { formatByteRate } = await import('../../server/quotas/byte-rate.js');
  const limits = await withStore(flags, async (store) => {
    const table = openAccountLimits(store);
    if (Object.keys(given).length > 0) return (await table.set(user, given)).limits;
    return table.getByName(user);
  });
  if (flags.json) return printJson({ account: user, limits });
  const count = (value: number | null): string => (value === null ? 'default (the edge\'s setting)' : value === 0 ? 'unlimited' : String(value));
  const rate = (value: number | null): string => (value === null ? 'default (the edge\'s setting)' : value === 0 ? 'unlimited' : formatByteRate(value));
  say(`limits of "${user}"${Object.keys(given).length > 0 ? ' (saved; running edges apply them within 30 s)' : ''}:`);
  say(`  names            ${count(limits.maxNames)}`);
  say(`  bandwidth        ${rate(limits.bandwidth)}  (all its routes, both directions together)`);
  say(`  route bandwidth  ${rate(limits.routeBandwidth)}  (each route)`);
  say(`  visitors         ${count(limits.maxVisitors)}  (concurrent connections, all its routes)`);
  say(`  route visitors   ${count(limits.routeMaxVisitors)}  (each route)`);
}

/** `udns account grant`: one grant through the edge's books and ledger, on its database. */
async function grantCredits(store: AccountStore, dataDir: string, grant: { user: string; amount: number; memo: string | undefined; idempotencyKey: string }) {
  // Loaded here, like the store: only this command needs them.
  const { openLedgerLog } = await import('../../server/ledger/ledger-log.js');
  const { openCreditBook } = await import('../../server/ledger/credit-book.js');
  const { OPERATOR_ACTOR, movementViews } = await import('../../server/ledger/credits-api.js');
  const { createLogger } = await import('../../server/logger.js');
  const ledger = await openLedgerLog(store, { dataDir, logger: createLogger('warn', 'udns-account') });
  try {
    const book = openCreditBook(store, ledger);
    const to = await book.accountNamed(grant.user);
    if (to === null) throw new UdnsError('not_found', `no account "${grant.user}": create it first with udns account create ${grant.user}`);
    const { movement, replayed } = await book.move({
      actor: OPERATOR_ACTOR, idempotencyKey: grant.idempotencyKey, kind: 'grant', from: 'issuance', to: { member: to.id }, amount: grant.amount, memo: grant.memo,
    });
    const [view] = await movementViews(book, [movement]);
    return { movement: view!, replayed, available: (await book.balances(to.id)).available };
  } finally {
    await ledger.close();
  }
}
