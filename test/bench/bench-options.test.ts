import { describe, expect, it } from 'vitest';
import { ALL_PATHS, BenchOptionsError, parseBenchOptions } from '../../bench/bench-options.js';

const MIB = 1024 * 1024;

describe('npm run bench options', () => {
  it('defaults to the issue 12 run: every path, 3 s warm-up, 3 rounds of 4 s wrk, 512 MiB down, 256 MiB up, far 1 GiB then 4 x 256 MiB at 20 ms each way', () => {
    const options = parseBenchOptions([], {});
    expect(options.paths).toEqual([...ALL_PATHS]);
    expect(options.paths).toContain('nginx');
    expect(options.paths).toContain('udns-far');
    expect(options.paths).toContain('ssh-far');
    expect(options).toMatchObject({
      warmupSec: 3,
      durationSec: 4,
      rounds: 3,
      connections: 32,
      downloadBytes: 512 * MIB,
      uploadBytes: 256 * MIB,
      farDownloadBytes: 1024 * MIB,
      farParallel: 4,
      farParallelBytes: 256 * MIB,
      farDelayMs: 20,
      nginxWorkers: 'auto',
    });
  });

  it('reads flags in both forms, falls back to BENCH_* variables, and keeps the paths in run order', () => {
    const options = parseBenchOptions(
      ['--paths', 'ssh-far,nginx,direct', '--upload-mib=0', '--far-delay-ms', '5', '--nginx-workers', '1'],
      { BENCH_FAR_MIB: '64', BENCH_DURATION: '2', BENCH_FAR_PARALLEL: '2', BENCH_ROUNDS: '5' },
    );
    expect(options.paths).toEqual(['direct', 'nginx', 'ssh-far']);
    expect(options.uploadBytes).toBe(0);
    expect(options.farDelayMs).toBe(5);
    expect(options.nginxWorkers).toBe(1);
    expect(options.farDownloadBytes).toBe(64 * MIB);
    expect(options.farParallel).toBe(2);
    expect(options.durationSec).toBe(2);
    expect(options.rounds).toBe(5);
  });

  it('a flag wins over its environment variable', () => {
    expect(parseBenchOptions(['--nginx-workers', 'auto'], { BENCH_NGINX_WORKERS: '3' }).nginxWorkers).toBe('auto');
    expect(parseBenchOptions([], { BENCH_NGINX_WORKERS: '3' }).nginxWorkers).toBe(3);
  });

  it('reports every bad option at once, naming the flag and what it accepts', () => {
    let caught: unknown;
    try {
      parseBenchOptions(['--paths', 'udns,nginx-far', '--nginx-workers', 'many', '--far-delay-ms', '-1', '--bogus'], {});
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(BenchOptionsError);
    const problems = (caught as BenchOptionsError).problems.join('\n');
    expect(problems).toMatch(/unknown argument "--bogus"/);
    expect(problems).toMatch(/--paths: unknown nginx-far; choose from direct, nginx, nginx2, node2, udns/);
    expect(problems).toMatch(/--nginx-workers \(BENCH_NGINX_WORKERS\) must be auto or a count/);
    expect(problems).toMatch(/--far-delay-ms \(BENCH_FAR_DELAY_MS\) must be a number from 0/);
  });
});
