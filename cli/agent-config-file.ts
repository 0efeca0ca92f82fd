import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { RouteSpec } from '../agent/agent.js';
import { UdnsError } from '../protocol/index.js';

const port = z.number().int().min(1).max(65535);

/** A route in the agent's config file; keys are the command-line flags' names. */
const FileRoute = z.union([
  z.object({ http: port, name: z.string().optional(), 'local-host': z.string().optional(), 'direct-port': port.optional() }).strict(),
  z.object({ tcp: port, 'local-host': z.string().optional() }).strict(),
  z.object({
    share: z.string().min(1),
    name: z.string().optional(),
    password: z.string().optional(),
    'allow-upload': z.boolean().optional(),
    webdav: z.boolean().optional(),
    expires: z.string().optional(),
    'show-hidden': z.boolean().optional(),
    'follow-symlinks': z.boolean().optional(),
  }).strict(),
]);

/**
 * The agent's config file (`udns up --config agent.yml`): several port routes and shares from
 * one agent. Example:
 *
 * ```yaml
 * server: https://example.net    # optional, like --server (default: from `udns login`)
 * routes:
 *   - http: 3000
 *     name: blog
 *   - tcp: 22
 *   - share: ~/Documents
 *     name: docs
 *     password: correct horse
 *     allow-upload: true
 * ```
 */
export const AgentConfigFile = z.object({
  server: z.string().optional(),
  token: z.string().optional(),
  transport: z.enum(['raw', 'ws']).optional(),
  routes: z.array(FileRoute).min(1, 'routes: list at least one http, tcp or share route'),
}).strict();
export type AgentConfigFile = z.infer<typeof AgentConfigFile>;

/** Reads and checks the config file; every problem is one error naming the file and the key. */
export async function readAgentConfigFile(file: string): Promise<{ config: AgentConfigFile; routes: RouteSpec[] }> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UdnsError('config_invalid', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let data: unknown;
  try {
    // Loaded here, not at start-up: only `udns up` reads YAML.
    const { parse: parseYaml } = await import('yaml');
    data = parseYaml(text);
  } catch (error) {
    throw new UdnsError('config_invalid', `${file} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const parsed = AgentConfigFile.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? issue.path.join('.') : 'the file';
    throw new UdnsError('config_invalid', `${file}: ${where}: ${issue.message}`);
  }
  // Relative folders are relative to the config file, like every config format people know.
  const base = path.dirname(path.resolve(file));
  const routes = parsed.data.routes.map((route): RouteSpec => {
    if ('http' in route) return { kind: 'http', localPort: route.http, name: route.name, localHost: route['local-host'], directPort: route['direct-port'] };
    if ('tcp' in route) return { kind: 'tcp', localPort: route.tcp, localHost: route['local-host'] };
    return {
      kind: 'share',
      dir: path.resolve(base, expandHome(route.share)),
      name: route.name,
      password: route.password,
      allowUpload: route['allow-upload'],
      webdav: route.webdav,
      expires: route.expires,
      showHidden: route['show-hidden'],
      followSymlinks: route['follow-symlinks'],
    };
  });
  return { config: parsed.data, routes };
}

function expandHome(dir: string): string {
  return dir === '~' || dir.startsWith('~/') ? path.join(os.homedir(), dir.slice(1)) : dir;
}
