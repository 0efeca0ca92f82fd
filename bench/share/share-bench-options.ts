import { parseArgs } from 'node:util';

/** Everything one `npm run bench:share` needs to know; defaults live only in {@link DEFAULTS}. */
export interface ShareBenchOptions {
  /** Size of the one file every path downloads, in bytes. */
  sizeBytes: number;
  /** Downloads per path; the table shows the best and the median. */
  runs: number;
  /** Also download the file's folder as `?zip` through the tunnel. */
  zip: boolean;
  /** Tunnel transport of the agent. */
  transport: 'raw' | 'ws';
  /** Run edge and agent under `--cpu-prof` and print a summary of where their time went. */
  profile: boolean;
  /** The whole run is abandoned (children killed, temp files removed, exit 1) after this long. */
  timeoutSec: number;
}

const DEFAULTS = { sizeMib: 1024, runs: 3, transport: 'raw' } as const;

/**
 * A download slower than this is a failed run rather than a slow one; it sets the timeout of
 * each download and, unless `--timeout` is given, of the whole run.
 */
export const SLOWEST_MB_PER_SEC = 10;

/** Seconds one download of `bytes` may take before it counts as failed. */
export function downloadTimeoutMs(bytes: number): number {
  return 30_000 + (bytes / (SLOWEST_MB_PER_SEC * 1e6)) * 1000;
}

/** Help text for `npm run bench:share -- --help`. */
export const USAGE = `usage: npm run bench:share -- [options]
  --size-mib <n>        size of the downloaded file in MiB (default ${DEFAULTS.sizeMib})
  --runs <n>            downloads per path; best and median are reported (default ${DEFAULTS.runs})
  --no-zip              skip the ?zip download of the file's folder through the tunnel
  --transport <raw|ws>  tunnel transport of the agent (default ${DEFAULTS.transport})
  --profile             run edge and agent with --cpu-prof and summarise where their time went
  --timeout <s>         abandon the whole run after this long (default: enough for ${SLOWEST_MB_PER_SEC} MB/s)`;

/** Thrown for bad options; the message lists every problem found, then the usage. */
export class ShareBenchOptionsError extends Error {
  readonly code = 'bench_bad_options';
  constructor(readonly problems: string[]) {
    super(`bad benchmark options:\n  ${problems.join('\n  ')}\n${USAGE}`);
  }
}

/** Reads `--size-mib 256` or `--size-mib=256` style flags; reports all problems at once. */
export function parseShareBenchOptions(argv: string[]): ShareBenchOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'size-mib': { type: 'string' },
        runs: { type: 'string' },
        'no-zip': { type: 'boolean' },
        transport: { type: 'string' },
        profile: { type: 'boolean' },
        timeout: { type: 'string' },
      },
    }));
  } catch (error) {
    throw new ShareBenchOptionsError([(error as Error).message]);
  }
  const problems: string[] = [];
  const number = (name: string, text: string | undefined, fallback: number, min: number, max: number): number => {
    if (text === undefined) return fallback;
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
      problems.push(`--${name} must be a number from ${min} to ${max}, got ${JSON.stringify(text)}`);
      return fallback;
    }
    return value;
  };
  const sizeMib = number('size-mib', values['size-mib'], DEFAULTS.sizeMib, 1, 64 * 1024);
  const runs = Math.round(number('runs', values.runs, DEFAULTS.runs, 1, 50));
  const transport = values.transport ?? DEFAULTS.transport;
  if (transport !== 'raw' && transport !== 'ws') problems.push(`--transport takes raw or ws, got ${JSON.stringify(transport)}`);
  const zip = !values['no-zip'];
  const sizeBytes = Math.round(sizeMib * 1024 * 1024);
  // Every download at the slowest acceptable rate, plus start-up, warm-up and shutdown.
  const downloads = runs * (zip ? 3 : 2);
  const defaultTimeoutSec = Math.ceil(180 + (downloads * downloadTimeoutMs(sizeBytes)) / 1000);
  const timeoutSec = number('timeout', values.timeout, defaultTimeoutSec, 30, 24 * 3600);

  if (problems.length > 0) throw new ShareBenchOptionsError(problems);
  return Object.freeze({ sizeBytes, runs, zip, transport: transport as 'raw' | 'ws', profile: values.profile ?? false, timeoutSec });
}
