import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UdnsError } from '../../protocol/index.js';
import { SERVICE_NODE_FLAGS } from './node-flags.js';
import type { UnitSpec } from './systemd-unit.js';

/** What `udns service install` was asked for. */
export interface InstallRequest {
  program: 'server' | 'up';
  /** Flags for `udns server` or `udns up`, after `--`. */
  args: string[];
  user: boolean;
  /** `udns up`'s config file. */
  config?: string;
  /** The agent's token file: a credential of a system unit, a `--token-file` of a user unit. */
  tokenFile?: string;
  /** Absolute node and bin/udns.js of the udns being installed. */
  node: string;
  bin: string;
  home: string;
}

/** Unit names: one edge, one agent per config file name. */
export function unitNameFor(program: 'server' | 'up', config?: string): string {
  if (program === 'server') return 'udns-edge.service';
  const base = path.basename(config ?? 'agent', path.extname(config ?? 'agent')).replace(/[^A-Za-z0-9_-]/g, '-');
  return `udns-agent-${base}.service`;
}

/** The value of `--flag value` or `--flag=value` in `args`, if given. */
function flagValue(args: string[], flag: string): string | undefined {
  for (const [i, arg] of args.entries()) {
    if (arg === flag) return args[i + 1];
    if (arg.startsWith(`${flag}=`)) return arg.slice(flag.length + 1);
  }
  return undefined;
}

function absoluteFile(file: string, what: string): string {
  const full = path.resolve(file);
  if (!fs.existsSync(full)) throw new UdnsError('config_invalid', `${what} ${file} does not exist`);
  return full;
}

function noWhitespace(dir: string, what: string): string {
  if (/\s/.test(dir)) throw new UdnsError('config_invalid', `${what} ${dir} holds whitespace, which systemd's ReadWritePaths= cannot take: pick another folder`);
  return dir;
}

/**
 * The unit for a request. Tokens never go into the unit: `--token` is refused, a token file
 * becomes a credential (system) or an absolute `--token-file` (user). Relative paths become
 * absolute, since a unit runs from another folder. The edge's data dir defaults to
 * /var/lib/udns (system, StateDirectory=) or ~/.local/share/udns (user), not ./.udns.
 */
export function planUnit(request: InstallRequest): { name: string; spec: UnitSpec } {
  const { args } = request;
  if (args.some((arg) => arg === '--token' || arg.startsWith('--token='))) {
    throw new UdnsError('config_invalid', 'a unit file must not hold a token: give the agent\'s token with --token-file <file> (before --), or log in as the user the unit runs as');
  }
  const system = !request.user;
  const command = [request.node, ...SERVICE_NODE_FLAGS, request.bin, request.program];
  const readWritePaths: string[] = [];
  const credentials: UnitSpec['credentials'] = [];
  let stateDirectory: string | undefined;
  if (request.program === 'server') {
    const given = flagValue(args, '--data-dir');
    const rest = args.filter((arg, i) => arg !== '--data-dir' && args[i - 1] !== '--data-dir' && !arg.startsWith('--data-dir='));
    let dataDir: string;
    if (given !== undefined) {
      dataDir = noWhitespace(path.resolve(given), '--data-dir');
      if (system) readWritePaths.push(dataDir);
    } else if (system) {
      dataDir = '/var/lib/udns';
      stateDirectory = 'udns';
    } else {
      dataDir = noWhitespace(path.join(request.home, '.local', 'share', 'udns'), 'the data dir');
    }
    const config = flagValue(rest, '--config') ?? flagValue(rest, '-c');
    const withConfig = config === undefined ? rest : rest.map((arg) => (arg === config ? absoluteFile(config, '--config') : arg));
    command.push('--data-dir', dataDir, ...withConfig);
  } else {
    if (request.config === undefined) throw new UdnsError('config_invalid', 'udns service install up needs --config <file>: the agent\'s routes');
    command.push('--config', absoluteFile(request.config, '--config'), ...args);
    if (request.tokenFile !== undefined) {
      const file = absoluteFile(request.tokenFile, '--token-file');
      if (system) {
        credentials.push({ name: 'token', path: file });
        command.push('--token-file', '%d/token');
      } else {
        command.push('--token-file', file);
      }
    }
  }
  const name = unitNameFor(request.program, request.config);
  return {
    name,
    spec: {
      description: request.program === 'server' ? 'udns edge (tunnels, HTTP proxy, DNS)' : `udns agent (${path.basename(request.config!)})`,
      command,
      scope: system ? 'system' : 'user',
      readWritePaths,
      stateDirectory,
      credentials,
      bindLowPorts: system && request.program === 'server',
      workingDirectory: system ? undefined : '%h',
    },
  };
}

/** Where unit files go: `UDNS_SYSTEMD_UNIT_DIR` (tests), else systemd's admin folders. */
export function unitDirectory(user: boolean, env: NodeJS.ProcessEnv): string {
  if (env.UDNS_SYSTEMD_UNIT_DIR !== undefined && env.UDNS_SYSTEMD_UNIT_DIR !== '') return env.UDNS_SYSTEMD_UNIT_DIR;
  if (!user) return '/etc/systemd/system';
  const config = env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config');
  return path.join(config, 'systemd', 'user');
}
