import type { Command } from 'commander';
import type { AccountStore } from '../../server/accounts/account-store.js';
import { say } from '../cli-output.js';

interface StoreFlags {
  dataDir?: string;
  databaseUrl?: string;
}

/** Opens the same database the edge uses (same --data-dir / --database-url rules). */
async function withStore<T>(flags: StoreFlags, work: (store: AccountStore) => Promise<T>): Promise<T> {
  // Loaded here: Prisma would slow every other command's start-up.
  const { loadEdgeConfig } = await import('../../server/config.js');
  const { openAccountStore } = await import('../../server/accounts/account-store.js');
  const config = loadEdgeConfig({ dataDir: flags.dataDir, databaseUrl: flags.databaseUrl }, process.env);
  const store = await openAccountStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl });
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

function storeOptions(command: Command): Command {
  return command
    .option('--data-dir <dir>', 'the edge\'s data directory (default ./.udns)')
    .option('--database-url <url>', 'the edge\'s database URL (file: or postgres://)');
}

/** `udns account …`: manage members beside the edge, on its database. */
export function registerAccountCommands(program: Command): void {
  const account = program.command('account').description('manage accounts and tokens (run beside the server)');

  storeOptions(account.command('create')
    .description('create an account and print its first token')
    .argument('<user>', 'account name: lowercase letters, digits and -'))
    .action(async (user: string, flags: StoreFlags) => {
      const { account: created, token } = await withStore(flags, (store) => store.createAccount(user));
      say(`created account "${created.name}". Its token is shown only this once:`);
      say(`  udns login ${token} --server <edge-url>`);
    });

  storeOptions(account.command('token')
    .description('issue another token for an account')
    .argument('<user>')
    .option('--label <label>', 'a note to tell this token apart', ''))
    .action(async (user: string, flags: StoreFlags & { label: string }) => {
      const { token, info } = await withStore(flags, (store) => store.createToken(user, flags.label));
      say(`token ${info.id} (${info.prefix}…) for "${user}", shown only this once:`);
      say(`  ${token}`);
    });

  storeOptions(account.command('revoke-token')
    .description('revoke a token: refused at once for new connections; live tunnels end at the edge\'s next check (30 s)')
    .argument('<user>')
    .argument('<token>', 'token id, its shown prefix, or the whole token'))
    .action(async (user: string, which: string, flags: StoreFlags) => {
      const info = await withStore(flags, (store) => store.revokeToken(user, which));
      say(`revoked token ${info.id} (${info.prefix}…) of "${user}"`);
    });

  storeOptions(account.command('list').description('list accounts'))
    .action(async (flags: StoreFlags) => {
      const accounts = await withStore(flags, (store) => store.listAccounts());
      for (const entry of accounts) say(`${entry.name}\tcreated ${entry.createdAt.toISOString()}`);
    });

  storeOptions(account.command('tokens').description('list an account\'s tokens (never the secrets)').argument('<user>'))
    .action(async (user: string, flags: StoreFlags) => {
      const tokens = await withStore(flags, (store) => store.listTokens(user));
      for (const token of tokens) {
        const state = token.revokedAt ? `revoked ${token.revokedAt.toISOString()}` : 'active';
        say(`${token.id}\t${token.prefix}…\t${state}\tlast used ${token.lastUsedAt?.toISOString() ?? 'never'}\t${token.label}`);
      }
    });
}
