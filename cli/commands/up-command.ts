import type { Command } from 'commander';
import { readAgentConfigFile } from '../agent-config-file.js';
import { expose, withAgentFlags, type AgentFlags } from './expose-command.js';

/** `udns up --config agent.yml`: every route and share of a config file from one agent. */
export function registerUpCommand(program: Command): void {
  withAgentFlags(
    program.command('up')
      .description('run the agent with the routes and shares of a config file (several at once)')
      .requiredOption('-c, --config <file>', 'YAML file listing http, tcp and share routes'),
  ).action(async (flags: AgentFlags & { config: string }, command: Command) => {
    const { config, routes } = await readAgentConfigFile(flags.config);
    await expose(routes, {
      ...flags,
      server: flags.server ?? config.server,
      token: flags.token ?? config.token,
      // An explicit --transport wins over the file, like --server and --token.
      transport: command.getOptionValueSource('transport') === 'cli' ? flags.transport : config.transport ?? flags.transport,
    });
  });
}
