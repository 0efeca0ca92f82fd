import type { Command } from 'commander';
import { say } from '../cli-output.js';
import { resolveCredentials } from '../client-config.js';
import { callEdge } from '../edge-api.js';
import { printJson, withJsonFlag } from '../json-output.js';
import { withApiFlags, type ApiFlags } from '../parse-args.js';

/** What the edge answers `POST /api/v1/console/link`. */
interface ConsoleLink {
  url: string;
  expiresAt: string;
}

/**
 * `udns console`: a one-time link that signs this browser into the edge's console as the saved
 * login's account. The code is in the link's fragment (after `#`): no server log or Referer sees it.
 */
export function registerConsoleCommand(program: Command): void {
  withJsonFlag(withApiFlags(program.command('console')
    .description('print a one-time link that signs a browser into the edge\'s console (good once, for 5 minutes)')))
    .action(async (flags: ApiFlags & { json?: boolean }) => {
      const edge = resolveCredentials(flags);
      const link = await callEdge<ConsoleLink>(edge, 'POST', '/api/v1/console/link');
      if (flags.json) return printJson(link);
      say(link.url);
      say(`open it in your browser: it signs you in once, until ${link.expiresAt.slice(11, 19)} UTC; anyone with the link can use it until then`);
    });
}
