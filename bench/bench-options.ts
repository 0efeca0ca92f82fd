/** The paths a benchmark run can measure, in the order they always run. */
export const ALL_PATHS = ['direct', 'udns', 'udns-ws', 'ssh'] as const;

/** One way of reaching the origin: directly, through udns (raw or ws transport), or `ssh -R`. */
export type PathName = (typeof ALL_PATHS)[number];

/** Everything one `npm run bench` needs to know; defaults live only in {@link DEFAULTS}. */
export interface BenchOptions {
  /** Seconds of measured wrk load per path. */
  durationSec: number;
  /** Seconds of wrk load before the measured run (0 skips the warm-up). */
  warmupSec: number;
  /** wrk connections (`-c`); wrk always runs one thread (`-t1`). */
  connections: number;
  /** Size of the single bulk download per path, in bytes. */
  downloadBytes: number;
  /** Paths to run, in {@link ALL_PATHS} order whatever order they were given in. */
  paths: PathName[];
  /** Run edge and agent under `--cpu-prof` and print a summary of where their time went. */
  profile: boolean;
  /** The whole run is abandoned (children killed, exit 1) after this many seconds. */
  timeoutSec: number;
}

const DEFAULTS: BenchOptions = {
  durationSec: 6,
  warmupSec: 2,
  connections: 32,
  downloadBytes: 512 * 1024 * 1024,
  paths: [...ALL_PATHS],
  profile: false,
  timeoutSec: 900,
};

/** Flags and the environment variables that set them when the flag is absent. */
const SOURCES = {
  duration: 'BENCH_DURATION',
  warmup: 'BENCH_WARMUP',
  connections: 'BENCH_CONNECTIONS',
  'download-mib': 'BENCH_DOWNLOAD_MIB',
  paths: 'BENCH_PATHS',
  profile: 'BENCH_PROFILE',
  timeout: 'BENCH_TIMEOUT',
} as const;
type OptionName = keyof typeof SOURCES;

/** Help text for `npm run bench -- --help`. */
export const USAGE = `usage: npm run bench -- [options]
  --duration <s>       measured wrk seconds per path (default ${DEFAULTS.durationSec}; env BENCH_DURATION)
  --warmup <s>         wrk warm-up seconds per path, 0 to skip (default ${DEFAULTS.warmupSec}; env BENCH_WARMUP)
  --connections <n>    wrk connections (default ${DEFAULTS.connections}; env BENCH_CONNECTIONS)
  --download-mib <n>   bulk download size in MiB (default ${DEFAULTS.downloadBytes / 1024 / 1024}; env BENCH_DOWNLOAD_MIB)
  --paths <list>       comma-separated subset of ${ALL_PATHS.join(',')} (default all; env BENCH_PATHS)
  --profile            run edge and agent with --cpu-prof and summarise (env BENCH_PROFILE=1)
  --timeout <s>        abandon the whole run after this long (default ${DEFAULTS.timeoutSec}; env BENCH_TIMEOUT)`;

/** Thrown for bad options; `problems` lists every one found, not just the first. */
export class BenchOptionsError extends Error {
  readonly code = 'bench_bad_options';
  constructor(readonly problems: string[]) {
    super(`bad benchmark options:\n  ${problems.join('\n  ')}\n${USAGE}`);
  }
}

/**
 * Reads options from flags (`--duration 6` or `--duration=6`), falling back to BENCH_*
 * environment variables, then to the defaults. Reports all problems at once.
 */
export function parseBenchOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const problems: string[] = [];
  const flags = new Map<OptionName, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const name = match?.[1];
    if (!match || !name || !(name in SOURCES)) {
      problems.push(`unknown argument ${JSON.stringify(arg)}`);
      continue;
    }
    if (name === 'profile') flags.set(name, match[2] ?? '1');
    else if (match[2] !== undefined) flags.set(name as OptionName, match[2]);
    else if (i + 1 < argv.length) flags.set(name as OptionName, argv[++i] ?? '');
    else problems.push(`--${name} needs a value`);
  }
  const raw = (name: OptionName): string | undefined => flags.get(name) ?? env[SOURCES[name]];

  const number = (name: OptionName, fallback: number, min: number, max: number): number => {
    const text = raw(name);
    if (text === undefined || text === '') return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value < min || value > max) {
      problems.push(`--${name} (${SOURCES[name]}) must be a number from ${min} to ${max}, got ${JSON.stringify(text)}`);
      return fallback;
    }
    return value;
  };

  const durationSec = Math.round(number('duration', DEFAULTS.durationSec, 1, 600));
  const warmupSec = Math.round(number('warmup', DEFAULTS.warmupSec, 0, 60));
  const connections = Math.round(number('connections', DEFAULTS.connections, 1, 10_000));
  const downloadMib = number('download-mib', DEFAULTS.downloadBytes / 1024 / 1024, 1, 64 * 1024);
  const timeoutSec = number('timeout', DEFAULTS.timeoutSec, 30, 24 * 3600);
  const profileText = raw('profile');
  const profile = profileText !== undefined && !['', '0', 'false', 'no'].includes(profileText.toLowerCase());

  let paths = DEFAULTS.paths;
  const pathsText = raw('paths');
  if (pathsText !== undefined && pathsText.trim() !== '') {
    const wanted = pathsText.split(',').map((part) => part.trim()).filter(Boolean);
    const unknown = wanted.filter((part) => !(ALL_PATHS as readonly string[]).includes(part));
    if (unknown.length > 0) problems.push(`--paths: unknown ${unknown.join(', ')}; choose from ${ALL_PATHS.join(', ')}`);
    paths = ALL_PATHS.filter((path) => wanted.includes(path));
    if (paths.length === 0 && unknown.length === 0) problems.push('--paths selects nothing');
  }

  if (problems.length > 0) throw new BenchOptionsError(problems);
  return Object.freeze({
    durationSec,
    warmupSec,
    connections,
    downloadBytes: Math.round(downloadMib * 1024 * 1024),
    paths,
    profile,
    timeoutSec,
  });
}
