import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { afterAll, expect } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgent, type Agent, type RouteSpec } from '../../agent/agent.js';
import type { TestEdge } from './test-edge.js';

/** Root of the udns package (where bin/udns.js lives). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const UDNS_BIN = path.join(PACKAGE_ROOT, 'bin', 'udns.js');

/** Starts the real agent in-process against a test edge. */
export function startTestAgent(
  edge: TestEdge,
  routes: RouteSpec[],
  options: { token?: string; transport?: 'raw' | 'ws'; mux?: 'frames' | 'http2' } = {},
): Promise<Agent> {
  return startAgent({
    serverUrl: edge.serverUrl,
    token: options.token ?? edge.adminToken,
    transport: options.transport ?? 'raw',
    ...(options.mux === undefined ? {} : { mux: options.mux }),
    routes,
  });
}

/** A `udns` CLI process and what it printed so far. */
export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with stdout once it contains `pattern` (rejects if the process exits first). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Where a CLI process runs: `netns` starts it inside that network namespace (test/helpers/netns.ts). */
export interface CliSpawnOptions {
  netns?: string;
}

let cacheHome: string | null = null;

/**
 * The XDG_CACHE_HOME every CLI process of this test file gets unless its env names one: listed
 * shares keep their SHA-256 cache there, never in the user's own ~/.cache/udns. One per test
 * file (not per process), so an agent restarted within a test finds its cache again, as on a PC.
 */
export function testCacheHome(): string {
  cacheHome ??= fs.mkdtempSync(path.join(os.tmpdir(), 'udns-test-cache-'));
  return cacheHome;
}
// Registered while the test file is collected (this module is imported by it); runs after the
// file's own afterAll hooks have stopped its agents. (A process 'exit' handler never runs in
// vitest's forks.)
afterAll(() => {
  if (cacheHome !== null) fs.rmSync(cacheHome, { recursive: true, force: true });
  cacheHome = null;
});

/** The environment of a spawned CLI: the test's own, a config file that does not exist, a private cache, then `env`. */
function cliEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...process.env, UDNS_CONFIG: '/nonexistent/udns-test-config.json', XDG_CACHE_HOME: testCacheHome(), ...env };
}

/** Runs `udns <args>` as a real process (the built CLI). */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}, options: CliSpawnOptions = {}): CliProcess {
  // `ip netns exec` execs the command itself (no fork in between): the child's pid and signals are node's.
  const [command, argv] = options.netns === undefined
    ? [process.execPath, [UDNS_BIN, ...args]]
    : ['ip', ['netns', 'exec', options.netns, process.execPath, UDNS_BIN, ...args]];
  const child = spawn(command, argv, {
    env: cliEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => { out += chunk; });
  child.stderr!.on('data', (chunk: Buffer) => { err += chunk; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForOutput(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(out)) {
            cleanup();
            resolve(out);
          }
        };
        const onExit = (): void => { cleanup(); reject(new Error(`udns exited before printing ${pattern}: ${err || out}`)); };
        const timer = setTimeout(() => { cleanup(); reject(new Error(`timed out waiting for ${pattern}; stderr: ${err}`)); }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          child.stdout!.off('data', check);
          child.off('exit', onExit);
        };
        child.stdout!.on('data', check);
        child.once('exit', onExit);
        check();
      });
    },
  };
}

/** Runs `udns <args>` to completion. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}, options: CliSpawnOptions = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = spawnCli(args, env, options);
  const { code } = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

/** What a CLI run must look like when it refuses bad input: one `udns:` line on stderr, nothing on stdout, a non-zero exit. */
export function expectCleanFailure(result: { code: number | null; stdout: string; stderr: string }, pattern: RegExp, code?: number): void {
  expect(result.code).not.toBe(0);
  expect(result.code).not.toBeNull();
  if (code !== undefined) expect(result.code).toBe(code);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

/** A `udns` process on a pseudo-terminal (util-linux `script`), as a person at a terminal runs it; stdout and stderr mixed, as a terminal shows them. */
export function spawnOnTerminal(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; output(): string } {
  const command = [process.execPath, UDNS_BIN, ...args].map((word) => `'${word}'`).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env: cliEnv(env),
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => { output += chunk; });
  child.stderr!.on('data', (chunk: Buffer) => { output += chunk; });
  return { child, output: () => output };
}
