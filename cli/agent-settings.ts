import os from 'node:os';
import { defaultHashCacheFile } from '../agent/index/hash-cache.js';
import { UdnsError } from '../protocol/index.js';
import { warn } from './cli-output.js';
import { clientConfigPath, readCaFile, readClientConfig, type EdgeTrust } from './client-config.js';
import { TOKEN_FLAG_WARNING, readTokenFile } from './token-source.js';

/** The agent's flags that reach the edge; undefined when not given on the command line. */
export interface AgentSettingFlags {
  server?: string;
  token?: string;
  tokenFile?: string;
  ca?: string;
  insecure?: boolean;
  transport?: 'raw' | 'ws';
}

/** What `udns up`'s config file may say about the connection (its routes are separate). */
export interface AgentFileSettings {
  server?: string;
  token?: string;
  transport?: 'raw' | 'ws';
}

/** Every setting an agent command runs with, merged once. */
export interface AgentSettings {
  readonly server: string;
  readonly token: string;
  readonly trust: Readonly<EdgeTrust>;
  readonly transport: 'raw' | 'ws';
  /** The listed shares' SHA-256 cache: `$XDG_CACHE_HOME/udns/file-hashes.sqlite`, else `~/.cache/udns/…`. */
  readonly indexCacheFile: string;
}

/**
 * The one loader of the agent's settings, for `udns http|tcp|share|up`: flags, then
 * `UDNS_SERVER` / `UDNS_TOKEN` / `UDNS_TOKEN_FILE`, then `udns up`'s config file, then the saved
 * login, then defaults (the edge's order: flags > environment > file > defaults). Every problem
 * is reported at once in one `config_invalid` error; the result is frozen.
 */
export function loadAgentSettings(flags: AgentSettingFlags, env: NodeJS.ProcessEnv = process.env, file: AgentFileSettings = {}): AgentSettings {
  const problems: string[] = [];
  const attempt = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch (error) {
      problems.push((error as Error).message);
      return undefined;
    }
  };
  if (flags.token !== undefined && flags.tokenFile !== undefined) problems.push('give --token or --token-file, not both');
  const saved = attempt(() => readClientConfig(clientConfigPath(env))) ?? {};
  const server = flags.server ?? (env.UDNS_SERVER || undefined) ?? file.server ?? saved.server;
  if (flags.token !== undefined) warn(TOKEN_FLAG_WARNING);
  const beforeToken = problems.length;
  const envTokenFile = env.UDNS_TOKEN_FILE || undefined;
  const token = (flags.tokenFile !== undefined ? attempt(() => readTokenFile(flags.tokenFile!)) : flags.token)
    ?? (env.UDNS_TOKEN || undefined)
    ?? (envTokenFile !== undefined ? attempt(() => readTokenFile(envTokenFile)) : undefined)
    ?? file.token
    ?? saved.token;
  if (!token && problems.length === beforeToken) problems.push('no token: run `udns login --server <url>`, pass --token-file <file> or set UDNS_TOKEN');
  if (!server) problems.push('no server: run `udns login --server <url>` or pass --server');
  const caFile = flags.ca ?? saved.ca;
  const ca = caFile === undefined ? undefined : attempt(() => readCaFile(caFile));
  if (problems.length > 0) throw new UdnsError('config_invalid', problems.join('; '));
  return Object.freeze({
    server: server!,
    token: token!,
    trust: Object.freeze({ ca, insecure: flags.insecure ?? saved.insecure ?? false }),
    transport: flags.transport ?? file.transport ?? 'raw',
    indexCacheFile: defaultHashCacheFile(env, env.HOME || os.homedir()),
  });
}
