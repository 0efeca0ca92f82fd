import { InvalidArgumentError, type Command } from 'commander';
import { isUdnsError, UdnsError } from '../../protocol/index.js';
import { parseSize, SEARCH_MAX_LIMIT, SEARCH_MAX_OFFSET, SEARCH_MEDIA_KINDS, showsTrust, trustText, type SearchHitView, type SearchResponse } from '../../protocol/search-api.js';
import { formatSize } from '../../agent/share/pages/human-format.js';
import { say } from '../cli-output.js';
import { clientConfigPath, readCaFile, readClientConfig, resolveCredentials, type EdgeTarget } from '../client-config.js';
import { callEdge } from '../edge-api.js';
import { printJson, withJsonFlag } from '../json-output.js';
import { withApiFlags, type ApiFlags } from '../parse-args.js';

interface SearchFlags extends ApiFlags {
  type?: string;
  minSize?: string;
  maxSize?: string;
  owner?: string;
  limit?: number;
  offset?: number;
  json?: boolean;
}

/** `udns search <words…>`: the files members share with `--list`, through the edge's search API. */
export function registerSearchCommand(program: Command): void {
  withJsonFlag(withApiFlags(program.command('search')
    .description('search the files members share with --list: name, folder, size, owner (and their trust), price, online, download path, URL')
    .argument('<words...>', 'words in the file or folder name (a part of a word is enough: 보고서 finds 2024_연말보고서.hwp)')
    .option('--type <kind>', `only this kind of file: ${SEARCH_MEDIA_KINDS.join(', ')}`, parseKind)
    .option('--min-size <size>', 'at least this size: bytes, or e.g. 500k, 10M, 1.5G', checkSize)
    .option('--max-size <size>', 'at most this size', checkSize)
    .option('--owner <account>', 'only files this account shares')
    .option('--limit <n>', `results per page, 1 to ${SEARCH_MAX_LIMIT} (default 20)`, (value) => parseCount(value, 1, SEARCH_MAX_LIMIT, '--limit'))
    .option('--offset <n>', 'skip this many results (the next page)', (value) => parseCount(value, 0, SEARCH_MAX_OFFSET, '--offset'))))
    .action(async (words: string[], flags: SearchFlags) => {
      const query = new URLSearchParams({ q: words.join(' ') });
      if (flags.type !== undefined) query.set('type', flags.type);
      if (flags.minSize !== undefined) query.set('minSize', flags.minSize);
      if (flags.maxSize !== undefined) query.set('maxSize', flags.maxSize);
      if (flags.owner !== undefined) query.set('owner', flags.owner);
      if (flags.limit !== undefined) query.set('limit', String(flags.limit));
      if (flags.offset !== undefined) query.set('offset', String(flags.offset));
      const edge = searchTarget(flags, process.env);
      const result = await callEdge<SearchResponse>(edge, 'GET', `/api/v1/search?${query}`).catch((error: unknown) => {
        if (edge.token === '' && isUdnsError(error, 'unauthorized')) {
          throw new UdnsError('unauthorized', 'this edge lets members search only: run `udns login` first (or pass --token-file)');
        }
        if (edge.token === '' && isUdnsError(error, 'rate_limited')) {
          // callEdge words a 429 as the token throttle's; without a token it was the search allowance.
          throw new UdnsError('rate_limited', `too many searches without a token from this network: try again in ${/(\d+) s$/.exec(error.message)?.[1] ?? 60} s, or run \`udns login\``);
        }
        throw error;
      });
      if (flags.json) return printJson(result);
      for (const line of resultLines(result)) say(line);
    });
}

/**
 * The saved login, or no token at all: an edge run with `--search public` answers visitors
 * without one, so `udns search --server <url>` works before `udns login`.
 */
function searchTarget(flags: ApiFlags, env: NodeJS.ProcessEnv): EdgeTarget {
  const saved = readClientConfig(clientConfigPath(env));
  const anyToken = flags.token !== undefined || flags.tokenFile !== undefined || Boolean(env.UDNS_TOKEN) || saved.token !== undefined;
  if (anyToken) return resolveCredentials(flags, env);
  const server = flags.server ?? env.UDNS_SERVER ?? saved.server;
  if (!server) throw new UdnsError('config_invalid', 'no server: run `udns login --server <url>` or pass --server');
  return { server, token: '', trust: { ca: saved.ca === undefined ? undefined : readCaFile(saved.ca), insecure: saved.insecure ?? false } };
}

/**
 * The results as lines for a terminal: three a hit (name, lock, price; where, size, owner and
 * their trust, state; URL), then the page.
 */
export function resultLines(result: SearchResponse): string[] {
  const words = result.words.join(' ');
  const hidden = result.offlineHidden ? ' (files of offline members are not shown on this edge)' : '';
  if (result.hits.length === 0) {
    return [result.offset > 0 && result.total > 0 ? `no more results for "${words}" (${result.total} in all)` : `no results for "${words}"${hidden}`];
  }
  const first = result.offset + 1;
  const last = result.offset + result.hits.length;
  const width = String(last).length;
  const lines: string[] = [];
  result.hits.forEach((hit, index) => {
    const number = `${String(first + index).padStart(width)}.`;
    const pad = ' '.repeat(width + 2);
    const price = hit.price === null ? '' : `  [${hit.price} credit${hit.price === 1 ? '' : 's'}]`;
    lines.push(`${number} ${hit.name}${hit.locked ? '  [password]' : ''}${price}`);
    const owner = showsTrust(hit) ? `${hit.owner} (${trustText(hit.trust)})` : hit.owner;
    lines.push(`${pad}${hit.share}:${hit.folder} · ${formatSize(hit.size)} · ${hit.modified.slice(0, 10)} · ${owner} · ${state(hit)}`);
    lines.push(`${pad}${hit.url}`);
  });
  const more = last < result.total ? `: --offset ${last} for the next ${Math.min(result.limit, result.total - last)}` : '';
  const narrow = result.truncated ? ' (too many matches to rank them all: add words to narrow it down)' : '';
  lines.push('', `${first}-${last} of ${result.total}${result.truncated ? '+' : ''} for "${words}"${more}${hidden}${narrow}`);
  return lines;
}

function state(hit: SearchHitView): string {
  return hit.via === null ? 'offline' : `online, via ${hit.via}`;
}

function parseKind(value: string): string {
  if (!(SEARCH_MEDIA_KINDS as readonly string[]).includes(value)) throw new InvalidArgumentError(`use one of ${SEARCH_MEDIA_KINDS.join(', ')}`);
  return value;
}

function checkSize(value: string): string {
  if (parseSize(value) === null) throw new InvalidArgumentError(`use bytes or a size such as 500k, 10M or 1.5G, got "${value}"`);
  return value;
}

function parseCount(value: string, min: number, max: number, flag: string): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < min || Number(value) > max) throw new InvalidArgumentError(`${flag} must be a whole number from ${min} to ${max}, got "${value}"`);
  return Number(value);
}
