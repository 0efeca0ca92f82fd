/** The paths a benchmark run can measure, in the order they always run. */
export const ALL_PATHS = ['direct', 'nginx', 'nginx2', 'node2', 'udns', 'udns-h2', 'udns-ws', 'udns-auth', 'udns-inspect', 'ssh', 'udns-far', 'ssh-far'] as const;

/**
 * One way of reaching the origin: directly, through one nginx reverse-proxy hop, through two in a
 * row (`nginx2`) or two bare Node pipe relays in a row (`node2`), the two-process references any
 * tunnel is bound by on one machine, through udns
 * (raw or ws transport; `udns-h2`: raw on the HTTP/2 mux that agents used before the frame mux; `udns-auth`: raw with `--basic-auth` and `--allow-ip`, every request
 * carrying the right credentials), or `ssh -R`; the `-far` ones put a delay proxy on the tunnel's own
 * connection (agent to edge, ssh to sshd) and measure bulk downloads only.
 */
export type PathName = (typeof ALL_PATHS)[number];

/** The paths whose tunnel connection crosses the delay proxy. */
export const FAR_PATHS: readonly PathName[] = ['udns-far', 'ssh-far'];

/** nginx worker processes: `auto` (one per core) or a count. */
export type NginxWorkers = 'auto' | number;

/** Everything one `npm run bench` needs to know; defaults live only in {@link DEFAULTS}. */
export interface BenchOptions {
  /** Seconds of measured wrk load per path and round. */
  durationSec: number;
  /**
   * Measured wrk runs per near path, taken in turn across the paths (all of them up at once), so
   * that a slow stretch of this shared machine lands on every path rather than on one.
   */
  rounds: number;
  /** Seconds of wrk load before the measured run (0 skips the warm-up). */
  warmupSec: number;
  /** wrk connections (`-c`); wrk always runs one thread (`-t1`). */
  connections: number;
  /** Size of the single bulk download per path, in bytes. */
  downloadBytes: number;
  /** Size of the single upload per path, in bytes (0 skips uploads). */
  uploadBytes: number;
  /** Far paths: size of the single download, in bytes. */
  farDownloadBytes: number;
  /** Far paths: how many downloads run at once after the single one (0 skips them). */
  farParallel: number;
  /** Far paths: size of each of the concurrent downloads, in bytes. */
  farParallelBytes: number;
  /** Far paths: delay the proxy adds in each direction, in ms (the round trip gains twice this). */
  farDelayMs: number;
  /** nginx worker processes. */
  nginxWorkers: NginxWorkers;
  /** Paths to run, in {@link ALL_PATHS} order whatever order they were given in. */
  paths: PathName[];
  /** Run edge and agent under `--cpu-prof` and print a summary of where their time went. */
  profile: boolean;
  /** The whole run is abandoned (children killed, exit 1) after this many seconds. */
  timeoutSec: number;
}

const DEFAULTS: BenchOptions = {
  durationSec: 4,
  rounds: 3,
  warmupSec: 3,
  connections: 32,
  downloadBytes: 512 * 1024 * 1024,
  uploadBytes: 256 * 1024 * 1024,
  farDownloadBytes: 1024 * 1024 * 1024,
  farParallel: 4,
  farParallelBytes: 256 * 1024 * 1024,
  farDelayMs: 20,
  // Debian's shipped nginx.conf says `auto`: one worker per core, what an operator gets.
  nginxWorkers: 'auto',
  paths: [...ALL_PATHS],
  profile: false,
  timeoutSec: 900,
};

/** Flags and the environment variables that set them when the flag is absent. */
const SOURCES = {
  duration: 'BENCH_DURATION',
  rounds: 'BENCH_ROUNDS',
  warmup: 'BENCH_WARMUP',
  connections: 'BENCH_CONNECTIONS',
  'download-mib': 'BENCH_DOWNLOAD_MIB',
  'upload-mib': 'BENCH_UPLOAD_MIB',
  'far-mib': 'BENCH_FAR_MIB',
  'far-parallel': 'BENCH_FAR_PARALLEL',
  'far-parallel-mib': 'BENCH_FAR_PARALLEL_MIB',
  'far-delay-ms': 'BENCH_FAR_DELAY_MS',
  'nginx-workers': 'BENCH_NGINX_WORKERS',
  paths: 'BENCH_PATHS',
  profile: 'BENCH_PROFILE',
  timeout: 'BENCH_TIMEOUT',
} as const;
type OptionName = keyof typeof SOURCES;

const MIB = 1024 * 1024;

/** Help text for `npm run bench -- --help`. */
export const USAGE = `usage: npm run bench -- [options]
Every path reaches the same origin; the near paths are all up at once and each gets a wrk
warm-up, measured wrk rounds on 1 KiB answers (in turn with the other paths), one download and
one upload; each far path (tunnel connection through a delay
proxy) gets one big download, then several at once.
  --paths <list>          comma-separated subset of ${ALL_PATHS.join(',')}
                          (default all; env BENCH_PATHS)
  --duration <s>          measured wrk seconds per path and round (default ${DEFAULTS.durationSec}; env BENCH_DURATION)
  --rounds <n>            measured wrk runs per path, taken in turn across the paths; rates
                          and percentiles are the rounds' medians (default ${DEFAULTS.rounds}; env BENCH_ROUNDS)
  --warmup <s>            wrk warm-up seconds per path, 0 to skip (default ${DEFAULTS.warmupSec}; env BENCH_WARMUP)
  --connections <n>       wrk connections, one thread (default ${DEFAULTS.connections}; env BENCH_CONNECTIONS)
  --download-mib <n>      download size in MiB (default ${DEFAULTS.downloadBytes / MIB}; env BENCH_DOWNLOAD_MIB)
  --upload-mib <n>        upload size in MiB, 0 to skip (default ${DEFAULTS.uploadBytes / MIB}; env BENCH_UPLOAD_MIB)
  --far-mib <n>           far paths: single download in MiB (default ${DEFAULTS.farDownloadBytes / MIB}; env BENCH_FAR_MIB)
  --far-parallel <n>      far paths: downloads at once, 0 to skip (default ${DEFAULTS.farParallel}; env BENCH_FAR_PARALLEL)
  --far-parallel-mib <n>  far paths: size of each of those in MiB (default ${DEFAULTS.farParallelBytes / MIB}; env BENCH_FAR_PARALLEL_MIB)
  --far-delay-ms <ms>     far paths: delay added each way, RTT grows by twice this
                          (default ${DEFAULTS.farDelayMs}; env BENCH_FAR_DELAY_MS)
  --nginx-workers <n>     nginx worker_processes: auto (one per core) or a count
                          (default ${DEFAULTS.nginxWorkers}; env BENCH_NGINX_WORKERS)
  --profile               run edge and agent with --cpu-prof and summarise (env BENCH_PROFILE=1)
  --timeout <s>           abandon the whole run after this long (default ${DEFAULTS.timeoutSec}; env BENCH_TIMEOUT)`;

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
  const rounds = Math.round(number('rounds', DEFAULTS.rounds, 1, 20));
  const warmupSec = Math.round(number('warmup', DEFAULTS.warmupSec, 0, 60));
  const connections = Math.round(number('connections', DEFAULTS.connections, 1, 10_000));
  const downloadMib = number('download-mib', DEFAULTS.downloadBytes / MIB, 1, 64 * 1024);
  const uploadMib = number('upload-mib', DEFAULTS.uploadBytes / MIB, 0, 64 * 1024);
  const farMib = number('far-mib', DEFAULTS.farDownloadBytes / MIB, 1, 64 * 1024);
  const farParallel = Math.round(number('far-parallel', DEFAULTS.farParallel, 0, 64));
  const farParallelMib = number('far-parallel-mib', DEFAULTS.farParallelBytes / MIB, 1, 64 * 1024);
  const farDelayMs = number('far-delay-ms', DEFAULTS.farDelayMs, 0, 1000);
  let nginxWorkers = DEFAULTS.nginxWorkers;
  const workersText = raw('nginx-workers');
  if (workersText !== undefined && workersText !== '') {
    if (workersText === 'auto') nginxWorkers = 'auto';
    else if (/^\d+$/.test(workersText) && Number(workersText) >= 1 && Number(workersText) <= 64) nginxWorkers = Number(workersText);
    else problems.push(`--nginx-workers (${SOURCES['nginx-workers']}) must be auto or a count from 1 to 64, got ${JSON.stringify(workersText)}`);
  }
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
    rounds,
    warmupSec,
    connections,
    downloadBytes: Math.round(downloadMib * MIB),
    uploadBytes: Math.round(uploadMib * MIB),
    farDownloadBytes: Math.round(farMib * MIB),
    farParallel,
    farParallelBytes: Math.round(farParallelMib * MIB),
    farDelayMs,
    nginxWorkers,
    paths,
    profile,
    timeoutSec,
  });
}
