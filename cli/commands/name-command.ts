import type { Command } from 'commander';
import { say } from '../cli-output.js';
import { resolveCredentials } from '../client-config.js';
import { callEdge, namePath, type NameView } from '../edge-api.js';
import { withApiFlags, type ApiFlags } from '../parse-args.js';
import { recordLines } from './dns-command.js';
import { printJson, withJsonFlag } from '../json-output.js';

/** `udns name …`: claim, release and list the account's names, through the edge's API. */
export function registerNameCommands(program: Command): void {
  const name = program.command('name').description('names you own: claim, release, list');

  withApiFlags(name.command('claim')
    .description('claim a name for your account (it stays yours, online or not)')
    .argument('<name>', 'one label such as alice (or alice.<domain>)'))
    .action(async (wanted: string, flags: ApiFlags) => {
      const edge = resolveCredentials(flags);
      const result = await callEdge<{ claimed: boolean; name: NameView }>(edge, 'POST', '/api/v1/names', { name: wanted });
      say(`${result.claimed ? 'claimed' : 'already yours:'} ${result.name.name} -> ${result.name.url}`);
    });

  withApiFlags(name.command('release')
    .description('give a name up: its DNS records are deleted and a tunnel serving it stops')
    .argument('<name>'))
    .action(async (label: string, flags: ApiFlags) => {
      const edge = resolveCredentials(flags);
      const result = await callEdge<{ released: string }>(edge, 'DELETE', namePath(label));
      say(`released ${result.released}`);
    });

  withJsonFlag(withApiFlags(name.command('ls').description('list your names, whether a tunnel serves each now, and their records')))
    .action(async (flags: ApiFlags & { json?: boolean }) => {
      const edge = resolveCredentials(flags);
      const { names } = await callEdge<{ names: NameView[] }>(edge, 'GET', '/api/v1/names');
      if (flags.json) return printJson({ names });
      if (names.length === 0) say('(no names: claim one with `udns name claim <name>`)');
      const width = Math.max(0, ...names.map((entry) => entry.name.length));
      for (const entry of names) {
        say(`${entry.name.padEnd(width)}  ${entry.online ? 'online ' : 'offline'}  ${entry.url}`);
        for (const line of recordLines(entry.records, '  ')) say(line);
      }
    });
}
