import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { UdnsError } from '../protocol/index.js';
import { warn } from './cli-output.js';
import { TOKEN_FLAG_WARNING, readTokenFile } from './token-source.js';

/** What `udns login` saves for later commands. */
export const ClientConfig = z.object({
  server: z.url().optional(),
  token: z.string().optional(),
  /** Absolute path of a PEM file with the private CA that signed the edge's certificate. */
  ca: z.string().optional(),
  /** Skip verifying the edge's certificate (saved only when `udns login --insecure` said so). */
  insecure: z.boolean().optional(),
}).strict();

/** How the CLI verifies an https:// edge. */
export interface EdgeTrust {
  /** PEM text of extra trusted CAs. */
  ca?: string;
  insecure: boolean;
}

/** Everything a command needs to reach the edge. */
export interface EdgeTarget {
  server: string;
  token: string;
  trust: EdgeTrust;
}

/** Reads a `--ca` PEM file, as one clear error when it cannot be read. */
export function readCaFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UdnsError('config_invalid', `cannot read --ca ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
export type ClientConfig = z.infer<typeof ClientConfig>;

/** `$UDNS_CONFIG`, else `~/.config/udns/config.json` (honouring XDG_CONFIG_HOME). */
export function clientConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.UDNS_CONFIG) return path.resolve(env.UDNS_CONFIG);
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'udns', 'config.json');
}

/** Reads the saved config; an absent file is an empty config, a broken one an error naming it. */
export function readClientConfig(file: string): ClientConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new UdnsError('config_invalid', `cannot read ${file}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UdnsError('config_invalid', `${file} is not valid JSON: fix it or run \`udns login\` again`);
  }
  const parsed = ClientConfig.safeParse(json);
  if (!parsed.success) throw new UdnsError('config_invalid', `${file}: ${parsed.error.issues[0]?.message}: fix it or run \`udns login\` again`);
  return parsed.data;
}

/** Writes the config readable by its owner only, via a temp file so it is never half-written. */
export function writeClientConfig(file: string, config: ClientConfig): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

/** Where a command's server and token can come from, besides the environment and the saved login. */
export interface CredentialFlags {
  server?: string;
  /** Seen by every local user in `ps`: still honoured, with a warning. */
  token?: string;
  tokenFile?: string;
  ca?: string;
  insecure?: boolean;
}

/**
 * Server, token and TLS trust for a command: flags (`--token` or `--token-file`), then `fallback`
 * (the agent's config file), then UDNS_SERVER / UDNS_TOKEN, then the saved login. A saved CA
 * path is read now, so a moved file is one clear error. `--token` costs a warning on stderr.
 */
export function resolveCredentials(
  flags: CredentialFlags,
  env: NodeJS.ProcessEnv = process.env,
  fallback: { server?: string; token?: string } = {},
): EdgeTarget {
  if (flags.token !== undefined && flags.tokenFile !== undefined) throw new UdnsError('config_invalid', 'give --token or --token-file, not both');
  const saved = readClientConfig(clientConfigPath(env));
  const server = flags.server ?? fallback.server ?? env.UDNS_SERVER ?? saved.server;
  if (flags.token !== undefined) warn(TOKEN_FLAG_WARNING);
  const flagToken = flags.tokenFile === undefined ? flags.token : readTokenFile(flags.tokenFile);
  const token = flagToken ?? fallback.token ?? (env.UDNS_TOKEN || undefined) ?? saved.token;
  if (!server) throw new UdnsError('config_invalid', 'no server: run `udns login --server <url>` or pass --server');
  if (!token) throw new UdnsError('config_invalid', 'no token: run `udns login --server <url>`, pass --token-file <file> or set UDNS_TOKEN');
  const caFile = flags.ca ?? saved.ca;
  return { server, token, trust: { ca: caFile === undefined ? undefined : readCaFile(caFile), insecure: flags.insecure ?? saved.insecure ?? false } };
}
