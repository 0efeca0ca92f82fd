import type { Command } from 'commander';
import { readAgentConfigFile } from '../agent-config-file.js';
import { reloadAgentConfig } from '../agent-config-reload.js';
import { warn } from '../cli-output.js';
import { openToOthers } from '../token-source.js';
import { expose, withAgentFlags, type AgentFlags } from './expose-command.js';
import { withInspectFlags } from '../inspect-flags.js';

/** `udns up --config agent.yml`: every route and share of a config file from one agent. */
export function registerUpCommand(program: Command): void {
  withAgentFlags(
    withInspectFlags(program.command('up'))
      .description('run the agent with the routes and shares of a config file (several at once); edits of the file apply live')
      .requiredOption('-c, --config <file>', 'YAML file listing http, tcp and share routes'),
  ).action(async (flags: AgentFlags & { config: string }, command: Command) => {
    const read = async (): ReturnType<typeof readAgentConfigFile> => {
      const read = await readAgentConfigFile(flags.config);
      for (const warning of read.warnings) warn(`${flags.config}: ${warning}`);
      return read;
    };
    const started = await read();
    const { config, routes } = started;
    // A warning, not a refusal as for --token-file: the file is mostly routes, often shared.
    const mode = config.token === undefined ? null : openToOthers(flags.config);
    if (mode !== null) warn(`${flags.config} holds a token and is open to other users (mode ${mode}): run \`chmod 600 ${flags.config}\`, or move the token to --token-file`);
    const agent = await expose(routes, {
      ...flags,
      // An explicit --transport wins over the file, like --server and --token.
      transport: command.getOptionValueSource('transport') === 'cli' ? flags.transport : config.transport ?? flags.transport,
      ...(config.transferPort === undefined ? {} : { transferPort: config.transferPort }),
      ...(config.transfers === undefined ? {} : { transfers: config.transfers }),
      // The request inspector of the http routes: flags over the file's keys.
      inspect: flags.inspect ?? config.inspect, inspectPort: flags.inspectPort ?? config.inspectPort,
      metricsListen: flags.metricsListen ?? config.metricsListen,
    }, { server: config.server, token: config.token });
    reloadAgentConfig(flags.config, agent, started, read);
  });
}
