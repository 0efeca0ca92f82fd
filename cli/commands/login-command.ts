import path from 'node:path';
import type { Command } from 'commander';
import { UdnsError } from '../../protocol/index.js';
import { say, warn } from '../cli-output.js';
import { clientConfigPath, readCaFile, readClientConfig, writeClientConfig } from '../client-config.js';
import { canPrompt, promptPassword } from '../download/password-prompt.js';
import { fetchMe } from '../edge-api.js';
import { loadOrCreateSigningKey, registerSigningKey, signingKeyFiles } from '../signing-key.js';
import { readTokenFile, readTokenFromStream } from '../token-source.js';

/**
 * The token to log in with, from wherever the user gave it: `-` reads stdin, `--token-file` a
 * file, nothing at all asks on the terminal without echo. A token in argv stays allowed: the
 * process lives a second, and the edge's banner shows the other ways.
 */
async function tokenFor(argument: string | undefined, tokenFile: string | undefined): Promise<string> {
  if (argument !== undefined && tokenFile !== undefined) throw new UdnsError('config_invalid', 'give the token or --token-file, not both');
  if (tokenFile !== undefined) return readTokenFile(tokenFile);
  if (argument !== undefined && argument !== '-') return argument;
  // `-` on a terminal would wait for Ctrl-D with the token echoed: ask properly instead.
  if (argument === '-' && !canPrompt()) return readTokenFromStream(process.stdin);
  if (!canPrompt()) {
    throw new UdnsError('config_invalid', 'no token: give it as `udns login - < <file>` (stdin) or --token-file <file>, or run `udns login` on a terminal to be asked');
  }
  try {
    const token = (await promptPassword('token (not shown): ')).trim();
    if (token !== '') return token;
  } catch {
    // Ctrl-C or Ctrl-D: the same answer as an empty line.
  }
  throw new UdnsError('config_invalid', 'no token given');
}

/**
 * Makes the member's signing key unless there is one, and registers its public part with the
 * edge every time (idempotent there; a login may be to another account or edge). One line says
 * which; a failure is a warning, not a failed login: only paid files need the key, and their
 * commands register it again.
 */
async function signingKeyAtLogin(edge: { server: string; token: string; trust: { ca?: string; insecure: boolean } }): Promise<void> {
  try {
    const { pair, created } = loadOrCreateSigningKey(process.env);
    const { created: registered } = await registerSigningKey(process.env, edge, pair);
    const keyFile = signingKeyFiles(process.env).key;
    if (created) say(`made a signing key (${keyFile}) and registered it with the edge (key ${pair.keyId.slice(0, 16)}…)`);
    else if (registered) say(`registered your signing key (${keyFile}) with the edge (key ${pair.keyId.slice(0, 16)}…)`);
    else say(`signing key ${pair.keyId.slice(0, 16)}… already registered with the edge (${keyFile})`);
  } catch (error) {
    if (!(error instanceof UdnsError)) throw error;
    warn(`logged in, but the signing key is not registered: ${error.message}; paid files need it (run \`udns login\` again)`);
  }
}

/** `udns login [token] --server <url>`: checks the token against the edge, then saves both. */
export function registerLoginCommand(program: Command): void {
  program.command('login')
    .description('save the server and token later commands use')
    .argument('[token]', 'account token (from the edge\'s first start or `udns account create`); `-` reads it from stdin; left out on a terminal, it is asked for without echo (a token here is visible in ps)')
    .option('--server <url>', 'edge URL, e.g. http://localhost:8080')
    .option('--token-file <file>', 'read the token from this file (mode 0600)')
    .option('--ca <file>', 'PEM file of a private CA that signed the edge\'s certificate (saved)')
    .option('--insecure', 'do not verify the edge\'s certificate (saved; the token may reach an impostor)')
    .action(async (argument: string | undefined, flags: { server?: string; tokenFile?: string; ca?: string; insecure?: boolean }) => {
      const file = clientConfigPath();
      const server = flags.server ?? readClientConfig(file).server;
      if (!server) throw new UdnsError('config_invalid', 'pass --server <url> (the edge, e.g. http://localhost:8080)');
      const ca = flags.ca === undefined ? undefined : path.resolve(flags.ca);
      const trust = { ca: ca === undefined ? undefined : readCaFile(ca), insecure: flags.insecure ?? false };
      const token = await tokenFor(argument, flags.tokenFile);
      const me = await fetchMe({ server, token, trust });
      writeClientConfig(file, {
        server: new URL(server).origin, token,
        ...(ca === undefined ? {} : { ca }),
        ...(flags.insecure ? { insecure: true } : {}),
      });
      say(`logged in to ${new URL(server).origin} as ${me.account} (saved in ${file})`);
      await signingKeyAtLogin({ server, token, trust });
    });
}
