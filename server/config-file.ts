import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UdnsError } from '../protocol/index.js';

/**
 * One layer of settings read from the edge's config file (`udns server --config edge.yml`):
 * the values, keyed like the schema (camelCase), and every problem found while reading them,
 * so that the loader can report them together with the schema's own.
 */
export interface EdgeConfigFileLayer {
  /** The file as given (relative or absolute), for messages. */
  file: string;
  values: Record<string, unknown>;
  problems: string[];
}

/**
 * Settings that name files: a relative path in the config file means relative to the file's
 * folder, as in Caddy, nginx and frp, so that the file works whatever folder starts the edge.
 */
const PATH_KEYS = new Set(['dataDir', 'tlsCert', 'tlsKey', 'acmeCa', 'accessLog']);

/**
 * Reads the config file. Keys are the flags' names in camelCase (`httpPort`, `tlsCert`), the
 * convention of our wire JSON and of the agent's file; the kebab-case spelling of a flag
 * (`http-port`) is reported with the camelCase one to use, and every unknown key with the
 * nearest known one.
 * @param knownKeys the schema's keys
 * @throws UdnsError `config_invalid` when the file cannot be read or is not YAML
 */
export function readEdgeConfigFile(file: string, knownKeys: readonly string[]): EdgeConfigFileLayer {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UdnsError('config_invalid', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (error) {
    throw new UdnsError('config_invalid', `${file} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const layer: EdgeConfigFileLayer = { file, values: {}, problems: [] };
  if (data === null || data === undefined) return layer; // an empty file: all defaults
  if (typeof data !== 'object' || Array.isArray(data)) {
    layer.problems.push(`${file}: must be a mapping of settings such as "httpPort: 8080"`);
    return layer;
  }
  const base = path.dirname(path.resolve(file));
  for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
    if (!knownKeys.includes(key)) {
      const camel = key.replace(/[-_]([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
      const hint = knownKeys.includes(camel) ? camel : nearest(key, knownKeys);
      layer.problems.push(`${file}: unknown key "${key}"${hint === undefined ? '' : `, did you mean "${hint}"?`}`);
      continue;
    }
    if (value === null || value === undefined) continue; // `tlsCert:` left empty means unset
    layer.values[key] = PATH_KEYS.has(key) && typeof value === 'string' && value !== '-' ? path.resolve(base, value) : value;
  }
  return layer;
}

/** The known key closest to `key` by edit distance, when it is close enough to be a typo. */
export function nearest(key: string, knownKeys: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const known of knownKeys) {
    const distance = editDistance(key.toLowerCase(), known.toLowerCase());
    if (best === undefined || distance < best.distance) best = { key: known, distance };
  }
  return best !== undefined && best.distance <= Math.max(2, Math.floor(key.length / 3)) ? best.key : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
