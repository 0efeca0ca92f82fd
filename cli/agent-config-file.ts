import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { RouteSpec } from '../agent/agent.js';
import { PriceList, priceRulesOf } from '../agent/exchange/price-list.js';
import { UdnsError } from '../protocol/index.js';
import { MEMBER_NAME } from '../protocol/private-route.js';
import { privateRouteSpec } from './private-flags.js';
import { accessRouteSpec } from './access-flags.js';
import { parseListenAddress } from '../server/metrics/listen-address.js';

const port = z.number().int().min(1).max(65535);
/** `udns http|tcp --private --allow-member <account>`; `name` on a tcp route only with `private: true`. */
const privateKeys = {
  private: z.boolean().optional(),
  allowMembers: z.array(z.string().transform((value) => value.toLowerCase()).pipe(z.string().regex(MEMBER_NAME, 'a member is an account name (1-32 letters, digits or \'-\')'))).optional(),
};

/** `--allow-ip` / `--deny-ip` (every route) and `--basic-auth` (http and share routes), as lists. */
const ipKeys = { allowIp: z.array(z.string()).optional(), denyIp: z.array(z.string()).optional() };
const accessKeys = { basicAuth: z.array(z.string()).optional(), ...ipKeys };

/** A route in the agent's config file; keys are the command-line flags' names in camelCase. */
const FileRoute = z.union([
  z.object({ http: port, name: z.string().optional(), localHost: z.string().optional(), directPort: port.optional(), ...privateKeys, ...accessKeys }).strict(),
  z.object({ tcp: port, localHost: z.string().optional(), ...privateKeys, name: z.string().optional(), ...ipKeys }).strict(),
  z.object({
    share: z.string().min(1),
    name: z.string().optional(),
    password: z.string().optional(),
    allowUpload: z.boolean().optional(),
    webdav: z.boolean().optional(),
    expires: z.string().optional(),
    showHidden: z.boolean().optional(),
    followSymlinks: z.boolean().optional(),
    /** Listed in the members' search (`udns share --list`). */
    list: z.boolean().optional(),
    /** Prices (`udns share --price`): glob → credits, in order, the first match wins; needs `list: true`. */
    prices: z.record(z.string(), z.number()).optional(),
    ...accessKeys,
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
 *     allowIp: [203.0.113.0/24, 2001:db8::/48]   # like --allow-ip (denyIp: like --deny-ip)
 *   - http: 8123
 *     name: nas
 *     basicAuth: ["alice:correct horse"]         # like --basic-auth user:password
 *   - http: 8080               # no public URL: reached with `udns connect nas` (like --private)
 *     name: nas
 *     private: true
 *     allowMembers: [bob]      # like --allow-member; the owner always may
 *   - share: ~/Documents
 *     name: docs
 *     password: correct horse
 *     allowUpload: true
 *     list: true               # in the members' search (like `udns share --list`)
 *     prices:                  # paid files (like `udns share --price`), the first match wins
 *       talks/keynote.pdf: 500
 *       talks/*.pdf: 50
 * transferPort: 7000             # the shares' direct/push port (like `udns share --transfer-port`)
 * # transfers: false             # no direct or push transfers (like `udns share --no-transfers`)
 * # metricsListen: 127.0.0.1:9465  # the agent's own Prometheus /metrics (like `--metrics-listen`)
 * ```
 *
 * The transfer keys are top-level, not per share: one agent has one transfer port for all its
 * shares (each ticket names its share route).
 */
export const AgentConfigFile = z.object({
  server: z.string().optional(),
  token: z.string().optional(),
  transport: z.enum(['raw', 'ws']).optional(),
  /** Port of the shares' direct and push transfers (`udns share --transfer-port`); default any free one. */
  transferPort: port.optional(),
  /** false: no direct or push transfers, every download through the edge (`udns share --no-transfers`). */
  transfers: z.boolean().optional(),
  /** false: no request inspector for the http routes (`--inspect=false`); default on. */
  inspect: z.boolean().optional(),
  /** The request inspector's port (`--inspect-port`); default 4040 or the next free one. */
  inspectPort: z.number().int().min(0).max(65535).optional(),
  /** The agent's own Prometheus /metrics on host:port (`--metrics-listen`); default none. */
  metricsListen: z.string().refine((value) => parseListenAddress(value) !== null, 'must be host:port such as 127.0.0.1:9465 or [::1]:9465').optional(),
  routes: z.array(FileRoute).min(1, 'routes: list at least one http, tcp or share route'),
}).strict();
export type AgentConfigFile = z.infer<typeof AgentConfigFile>;

/** The kebab-case route keys of the first file format, still read (with a warning) so old files keep working. */
const DEPRECATED_KEYS: Record<string, string> = {
  'local-host': 'localHost', 'direct-port': 'directPort', 'allow-upload': 'allowUpload', 'show-hidden': 'showHidden', 'follow-symlinks': 'followSymlinks',
};

/** Renames deprecated kebab-case route keys to camelCase, noting each once. */
function renameDeprecated(data: unknown, warnings: string[]): unknown {
  if (data === null || typeof data !== 'object' || !Array.isArray((data as { routes?: unknown }).routes)) return data;
  const routes = (data as { routes: unknown[] }).routes.map((route) => {
    if (route === null || typeof route !== 'object' || Array.isArray(route)) return route;
    return Object.fromEntries(Object.entries(route).map(([key, value]) => {
      const camel = DEPRECATED_KEYS[key];
      if (camel === undefined) return [key, value];
      const warning = `"${key}" is deprecated, write "${camel}" (camelCase, as in the edge's config file)`;
      if (!warnings.includes(warning)) warnings.push(warning);
      return [camel, value];
    }));
  });
  return { ...data, routes };
}

/**
 * Reads and checks the config file; every problem at once in one error naming the file and
 * the keys. `warnings` names deprecated spellings that were still accepted.
 */
export async function readAgentConfigFile(file: string): Promise<{ config: AgentConfigFile; routes: RouteSpec[]; warnings: string[] }> {
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
  const warnings: string[] = [];
  const parsed = AgentConfigFile.safeParse(renameDeprecated(data, warnings));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'the file'}: ${issue.message}`);
    throw new UdnsError('config_invalid', `${file}: ${problems.join('; ')}`);
  }
  const priceProblems: string[] = [];
  const accessOf = (route: (typeof parsed.data.routes)[number], index: number): ReturnType<typeof accessRouteSpec> => {
    try {
      return accessRouteSpec({ basicAuth: 'basicAuth' in route ? route.basicAuth : undefined, allowIp: route.allowIp, denyIp: route.denyIp }, 'tcp' in route ? 'tcp' : 'http');
    } catch (error) {
      priceProblems.push(`routes.${index}: ${(error as Error).message}`);
      return {};
    }
  };
  const accesses = parsed.data.routes.map(accessOf);
  parsed.data.routes.forEach((route, index) => {
    if (!('share' in route)) {
      if (route.allowMembers !== undefined && route.private !== true) priceProblems.push(`routes.${index}.allowMembers: needs private: true (a public route is open to everyone)`);
      if ('tcp' in route && route.name !== undefined && route.private !== true) priceProblems.push(`routes.${index}.name: a public tcp route has no name (its address is a port); add private: true or drop it`);
      return;
    }
    if (route.prices === undefined) return;
    if (Object.keys(route.prices).length > 0 && route.list !== true) priceProblems.push(`routes.${index}.prices: prices need list: true (buyers find paid files through the members' search)`);
    try {
      new PriceList(priceRulesOf(route.prices));
    } catch (error) {
      priceProblems.push(`routes.${index}.prices: ${(error as Error).message}`);
    }
  });
  if (priceProblems.length > 0) throw new UdnsError('config_invalid', `${file}: ${priceProblems.join('; ')}`);
  // Relative folders are relative to the config file, like every config format people know.
  const base = path.dirname(path.resolve(file));
  const routes = parsed.data.routes.map((route, index): RouteSpec => {
    const access = accesses[index]!;
    const privacy = 'share' in route ? {} : privateRouteSpec({ private: route.private, allowMember: route.allowMembers });
    if ('http' in route) return { kind: 'http', localPort: route.http, name: route.name, localHost: route.localHost, directPort: route.directPort, ...privacy, ...access };
    if ('tcp' in route) return { kind: 'tcp', localPort: route.tcp, localHost: route.localHost, ...(route.name === undefined ? {} : { name: route.name }), ...privacy, ...access };
    return {
      kind: 'share',
      dir: path.resolve(base, expandHome(route.share)),
      name: route.name,
      password: route.password,
      allowUpload: route.allowUpload,
      webdav: route.webdav,
      expires: route.expires,
      showHidden: route.showHidden,
      followSymlinks: route.followSymlinks,
      list: route.list,
      ...(route.prices === undefined ? {} : { prices: priceRulesOf(route.prices) }),
      ...access,
    };
  });
  return { config: parsed.data, routes, warnings };
}

function expandHome(dir: string): string {
  return dir === '~' || dir.startsWith('~/') ? path.join(os.homedir(), dir.slice(1)) : dir;
}
