import path from 'node:path';
import type { Command } from 'commander';
import { UdnsError } from '../../protocol/index.js';
import { say } from '../cli-output.js';
import { clientConfigPath, readCaFile, readClientConfig, writeClientConfig } from '../client-config.js';
import { fetchMe } from '../edge-api.js';

/** `udns login <token> --server <url>`: checks the token against the edge, then saves both. */
export function registerLoginCommand(program: Command): void {
  program.command('login')
    .description('save the server and token later commands use')
    .argument('<token>', 'account token printed by the edge or `udns account create`')
    .option('--server <url>', 'edge URL, e.g. http://localhost:8080')
    .option('--ca <file>', 'PEM file of a private CA that signed the edge\'s certificate (saved)')
    .option('--insecure', 'do not verify the edge\'s certificate (saved; the token may reach an impostor)')
    .action(async (token: string, flags: { server?: string; ca?: string; insecure?: boolean }) => {
      const file = clientConfigPath();
      const server = flags.server ?? readClientConfig(file).server;
      if (!server) throw new UdnsError('config_invalid', 'pass --server <url> (the edge, e.g. http://localhost:8080)');
      const ca = flags.ca === undefined ? undefined : path.resolve(flags.ca);
      const trust = { ca: ca === undefined ? undefined : readCaFile(ca), insecure: flags.insecure ?? false };
      const me = await fetchMe({ server, token, trust });
      writeClientConfig(file, {
        server: new URL(server).origin, token,
        ...(ca === undefined ? {} : { ca }),
        ...(flags.insecure ? { insecure: true } : {}),
      });
      say(`logged in to ${new URL(server).origin} as ${me.account} (saved in ${file})`);
    });
}
