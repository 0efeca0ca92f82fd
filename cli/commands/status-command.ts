import type { Command } from 'commander';
import { say } from '../cli-output.js';
import { withApiFlags } from '../parse-args.js';
import { resolveCredentials } from '../client-config.js';
import { describeDirect, fetchMe } from '../edge-api.js';
import { printJson, withJsonFlag } from '../json-output.js';

/** `udns status`: server, account, names and the live routes, as the edge sees them. */
export function registerStatusCommand(program: Command): void {
  withJsonFlag(withApiFlags(program.command('status')
    .description('show the server, account, names and live routes')))
    .action(async (flags: { server?: string; token?: string; json?: boolean }) => {
      const edge = resolveCredentials(flags);
      const { server } = edge;
      const me = await fetchMe(edge);
      if (flags.json) {
        printJson({ server, ...me });
        return;
      }
      say(`server   ${new URL(server).origin}`);
      say(`account  ${me.account}`);
      say(`names    ${me.names.length === 0 ? '(none)' : me.names.map((n) => `${n.name}${n.online ? ' (online)' : ''}`).join(', ')}`);
      const routes = me.tunnels.flatMap((tunnel) => tunnel.routes);
      if (routes.length === 0) {
        say('routes   (none live)');
        return;
      }
      routes.forEach((route, index) => {
        const direct = route.kind === 'http' ? ` [${describeDirect(route.direct)}]` : '';
        say(`${index === 0 ? 'routes  ' : '        '} ${route.url} -> ${route.target}${direct}`);
      });
    });
}
