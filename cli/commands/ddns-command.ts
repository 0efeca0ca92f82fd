import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { UdnsError } from '../../protocol/index.js';
import { failAndExit, say, warn } from '../cli-output.js';
import { resolveCredentials } from '../client-config.js';
import { callEdge, namePath } from '../edge-api.js';
import { publicAddress } from '../public-address.js';
import { withApiFlags, type ApiFlags } from '../parse-args.js';

/** Default pause between checks: a home address rarely changes more often. */
const DEFAULT_INTERVAL_SECONDS = 300;

interface DdnsFlags extends ApiFlags {
  interval: number;
  once?: boolean;
  ipv4?: boolean;
  ipv6?: boolean;
}

function parseInterval(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 30 || Number(value) > 86_400) {
    throw new InvalidArgumentError(`the interval is a number of seconds from 30 to 86400, got "${value}"`);
  }
  return Number(value);
}

/**
 * `udns ddns <name>`: points a name at this machine's public IPv4 and IPv6 addresses, as the edge
 * sees them, and keeps it so (checking every --interval seconds). Only changes are written.
 */
export function registerDdnsCommand(program: Command): void {
  withApiFlags(program.command('ddns')
    .description('keep a name pointed at this machine\'s public address (IPv4 and IPv6)')
    .argument('<name>', 'one of your names, e.g. alice or alice.example.net'))
    .option('--interval <seconds>', 'how often to check the address', parseInterval, DEFAULT_INTERVAL_SECONDS)
    .option('--once', 'update once and exit (for cron or a router hook)')
    .option('--ipv4', 'only IPv4 (A)')
    .option('--ipv6', 'only IPv6 (AAAA)')
    .action(async (name: string, flags: DdnsFlags) => {
      const edge = resolveCredentials(flags);
      const families: Array<4 | 6> = flags.ipv4 && !flags.ipv6 ? [4] : flags.ipv6 && !flags.ipv4 ? [6] : [4, 6];
      const applied = new Map<4 | 6, string>();

      const check = async (): Promise<void> => {
        let reached = 0;
        for (const family of families) {
          const address = await publicAddress(edge, family);
          if (address === null) continue;
          reached++;
          if (applied.get(family) === address) continue;
          const type = family === 4 ? 'A' : 'AAAA';
          const change = await callEdge<{ changed: boolean }>(edge, 'PUT', namePath(name, 'records', type), { values: [address] });
          applied.set(family, address);
          say(`${name} ${type} ${address}${change.changed ? '' : ' (unchanged)'}`);
        }
        if (reached === 0) {
          throw new UdnsError('server_unreachable', `could not learn this machine's address from ${new URL(edge.server).origin} over ${families.map((f) => `IPv${f}`).join(' or ')}`);
        }
      };

      await check();
      if (flags.once) return;
      const loop = (): void => {
        setTimeout(() => {
          check().catch((error: unknown) => {
            // A passing network problem must not stop the updater; the next round tries again.
            if (error instanceof UdnsError && (error.code === 'unauthorized' || error.code === 'not_found' || error.code === 'forbidden')) failAndExit(error);
            warn(error instanceof Error ? error.message : String(error));
          }).finally(loop);
        }, flags.interval * 1000);
      };
      loop();
    });
}
