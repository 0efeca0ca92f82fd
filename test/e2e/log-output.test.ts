import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startEdgeProcess, type EdgeProcess } from '../helpers/edge-process.js';
import { eventually } from '../helpers/eventually.js';
import { expectCleanFailure, runCli, spawnCli, spawnOnTerminal, type CliProcess } from '../helpers/test-agent.js';
import { writeTokenFile } from '../helpers/token-file.js';

/**
 * Issue 9, item 4: the one-time token banner sat among JSON log lines on the terminal. Logs are
 * short lines on a terminal (JSON elsewhere or with --log-format json), and the banner comes
 * after the start-up lines, set apart.
 */
const running: ChildProcess[] = [];
/** Data dirs of edges started on a terminal: `script` runs them in a session of their own, out of its process group. */
const edgeDataDirs: string[] = [];
afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  for (const dataDir of edgeDataDirs.splice(0)) for (const pid of pidsRunningWith(dataDir)) process.kill(pid, 'SIGKILL');
});

/** Processes whose command line names `text` (here: an edge's own data dir). */
function pidsRunningWith(text: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(text)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** On a pseudo-terminal, stopped after the test. */
function onTerminal(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; output(): string } {
  const run = spawnOnTerminal(args, { NO_COLOR: '', ...env });
  running.push(run.child);
  return run;
}

function serverArgs(): string[] {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-log-format-'));
  edgeDataDirs.push(dataDir);
  return ['server', '--http-port', '0', '--dns-port', '0', '--bind', '127.0.0.1', '--tcp-ports', '33000-33099', '--data-dir', dataDir, '--log-level', 'info'];
}

const PRETTY_LINE = /^\d\d:\d\d:\d\d (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) \S/;

describe('the edge on a terminal', () => {
  test.skipIf(process.platform !== 'linux')('short coloured log lines, then the banner between rules with the token, after the start-up lines', async () => {
    const edge = onTerminal(serverArgs());
    const out = await eventually('the banner\'s closing rule', () => (/\n─{60}\r?\n/.test(edge.output()) ? edge.output() : undefined), { timeoutMs: 30_000 });
    const lines = out.split(/\r?\n/);
    const plain = lines.map((line) => line.replace(/\x1b\[[0-9;]*m/g, ''));
    expect(out).not.toContain('{"level"');
    expect(out).toMatch(/\x1b\[32mINFO /);
    const listening = plain.findIndex((line) => PRETTY_LINE.test(line) && line.includes('edge listening'));
    const top = plain.findIndex((line) => line.startsWith('── udns edge ──'));
    expect(listening).toBeGreaterThanOrEqual(0);
    // Every log line of the start comes before the banner, and a blank line sets it apart.
    expect(top).toBeGreaterThan(listening);
    expect(plain[top - 1]).toBe('');
    const end = plain.findIndex((line) => /^─{60}$/.test(line));
    const box = plain.slice(top, end + 1);
    expect(box[1]).toBe('udns edge for localhost');
    const tokenRule = box.findIndex((line) => line.startsWith('── admin token ──'));
    expect(tokenRule).toBeGreaterThan(1);
    expect(box[tokenRule + 1]).toBe('First start: created the account "admin". Its token:');
    // Alone on its line, so selecting the line copies the token only.
    expect(box[tokenRule + 2]).toMatch(/^ {2}udns_\S+$/);
  });

  test.skipIf(process.platform !== 'linux')('NO_COLOR keeps the short lines and drops the colour; --log-format json keeps JSON on a terminal', async () => {
    const noColor = onTerminal(serverArgs(), { NO_COLOR: '1' });
    const out = await eventually('the banner', () => (/\n─{60}\r?\n/.test(noColor.output()) ? noColor.output() : undefined), { timeoutMs: 30_000 });
    expect(out).not.toContain('\x1b[');
    expect(out.split(/\r?\n/).some((line) => PRETTY_LINE.test(line) && line.includes('edge listening'))).toBe(true);

    const json = onTerminal([...serverArgs(), '--log-format', 'json']);
    const jsonOut = await eventually('the banner', () => (/\n─{60}\r?\n/.test(json.output()) ? json.output() : undefined), { timeoutMs: 30_000 });
    const listening = jsonOut.split(/\r?\n/).find((line) => line.includes('edge listening'))!;
    expect(JSON.parse(listening)).toMatchObject({ level: 30, msg: 'edge listening' });
  });
});

describe('a terminal that goes away', () => {
  // Regression: the edge's stderr write failed with EIO once its terminal hung up (an SSH
  // session dropped), pino re-threw it, and on the way out sonic-boom retried the write every
  // 100 ms forever: the edge served nothing and ignored SIGTERM.
  test.skipIf(process.platform !== 'linux')('the edge keeps serving after its terminal hangs up, and SIGTERM still ends it', async () => {
    const args = serverArgs();
    const dataDir = args[args.indexOf('--data-dir') + 1]!;
    const edge = onTerminal(args);
    const out = await eventually('the banner', () => (/\n─{60}\r?\n/.test(edge.output()) ? edge.output() : undefined), { timeoutMs: 30_000 });
    const port = Number(/httpPort\W+(\d+)/.exec(out.replace(/\x1b\[[0-9;]*m/g, ''))?.[1]);
    expect(port).toBeGreaterThan(0);
    const [pid] = pidsRunningWith(dataDir);
    expect(pid).toBeGreaterThan(0);
    // The terminal goes: `script` dies, the edge gets SIGHUP (a reload, which logs) and EIO.
    process.kill(edge.child.pid!, 'SIGKILL');
    await eventually('the edge answering after the hang-up', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
      return res !== null ? true : undefined;
    }, { timeoutMs: 15_000 });
    process.kill(pid!, 'SIGTERM');
    await eventually('the edge gone after SIGTERM', () => (pidsRunningWith(dataDir).length === 0 ? true : undefined), { timeoutMs: 20_000 });
  });
});

describe('off a terminal', () => {
  let edge: EdgeProcess;
  let cli: CliProcess | undefined;
  beforeAll(async () => { edge = await startEdgeProcess(); });
  afterAll(async () => { await edge?.stop(); });
  afterEach(async () => {
    cli?.child.kill('SIGKILL');
    await cli?.exited;
    cli = undefined;
  });

  test('the edge writes JSON lines by default, short lines with --log-format pretty or UDNS_LOG_FORMAT=pretty, no colour', async () => {
    for (const [args, env, pretty] of [[[], {}, false], [['--log-format', 'pretty'], {}, true], [[], { UDNS_LOG_FORMAT: 'pretty' }, true]] as const) {
      cli = spawnCli([...serverArgs(), ...args], env);
      await cli.waitForOutput(/udns login/, 30_000);
      const listening = await eventually('the listening line', () => cli!.stderr().split('\n').find((line) => line.includes('edge listening')));
      if (pretty) {
        expect(listening).toMatch(/^\d\d:\d\d:\d\d INFO  edge listening  httpPort=\d+ /);
        expect(cli.stderr()).not.toContain('\x1b[');
        expect(cli.stderr()).not.toContain('{"');
      } else {
        expect(JSON.parse(listening)).toMatchObject({ level: 30, name: 'udns-edge', msg: 'edge listening' });
      }
      cli.child.kill('SIGKILL');
      await cli.exited;
    }
  });

  test('an agent command takes --log-format too: pretty "tunnel up" lines, with the tunnel id shortened and no token', async () => {
    cli = spawnCli(['http', '1', '--name', 'logfmt', '--server', edge.serverUrl, '--token-file', writeTokenFile(edge.adminToken), '--log-level', 'info', '--log-format', 'pretty']);
    const line = await eventually('the tunnel up line', () => cli!.stderr().split('\n').find((text) => text.includes('tunnel up')));
    expect(line).toMatch(/^\d\d:\d\d:\d\d INFO  tunnel up  tunnel=\S+ account=admin$/);
    expect(cli.stderr()).not.toContain(edge.adminToken);
  });

  test('an unknown --log-format or UDNS_LOG_FORMAT is one line and exit 2', async () => {
    expectCleanFailure(await runCli([...serverArgs(), '--log-format', 'xml']), /^udns: --log-format must be pretty or json, not 'xml'$/, 2);
    expectCleanFailure(await runCli(['http', '1', '--server', edge.serverUrl, '--token-file', writeTokenFile(edge.adminToken)], { UDNS_LOG_FORMAT: 'yaml' }), /^udns: UDNS_LOG_FORMAT must be pretty or json, not 'yaml'$/, 2);
  });
});
