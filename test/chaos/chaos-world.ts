import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { promisify } from 'node:util';
import { AgentProcess } from '../helpers/agent-process.js';
import { startEdgeProcess, type EdgeProcess } from '../helpers/edge-process.js';
import { restartEdgeProcess } from '../helpers/edge-restart.js';
import { eventually } from '../helpers/eventually.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import type { SeededRandom } from '../helpers/seeded-random.js';
import { runCli } from '../helpers/test-agent.js';

const run = promisify(execFile);

/** What a fault can hit: the edge, or one of the two agents. */
export type ChaosTarget = 'edge' | 'web-agent' | 'share-agent';
export const CHAOS_TARGETS: readonly ChaosTarget[] = ['edge', 'web-agent', 'share-agent'];

/** The name `udns http` publishes (the origin) and the one `udns share` publishes (the folder). */
export const WEB_NAME = 'chaosweb';
export const SHARE_NAME = 'chaosfiles';
/** Files of the share's `zipped/` folder: what a complete ZIP of it must hold. */
export const ZIPPED_FOLDER = 'zipped';
/** Where visitors PUT their uploads. */
export const UPLOAD_FOLDER = 'uploads';

/** Sizes a run works with: small for the fast run in `npm test`, larger for the long one. */
export interface WorldSizes {
  /** The share's `big.bin`, fetched whole by visitors and `udns get`. */
  bigFileBytes: number;
  /** Files in `zipped/` and the size of each. */
  zippedFiles: number;
  zippedFileBytes: number;
}

/**
 * Everything a chaos run works against, all real: the edge as a `udns server` process on a
 * fixed port (so it can be started again where agents and visitors expect it), a local web
 * app (the origin, in this process), a shared folder, and two agents as `udns http` and
 * `udns share --allow-upload` processes logged in with `udns login`.
 */
export class ChaosWorld {
  edge!: EdgeProcess;
  web!: AgentProcess;
  share!: AgentProcess;
  origin!: Origin;
  readonly work: string;
  readonly sharedDir: string;
  readonly configEnv: NodeJS.ProcessEnv;
  /** The share's `big.bin`. */
  bigFile: Buffer = Buffer.alloc(0);
  /** Name → SHA-256 of each file in `zipped/`. */
  readonly zipped = new Map<string, string>();
  /** stderr of edges that were killed, oldest first (for a report when something breaks). */
  readonly pastEdgeStderr: string[] = [];

  private constructor(readonly sizes: WorldSizes, private readonly edgeArgs: string[]) {
    this.work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-chaos-'));
    this.sharedDir = path.join(this.work, 'shared');
    // Agents write a Node diagnostic report (JS stack, libuv handles) on SIGUSR2: what a stuck
    // agent was waiting for is the first question when one does not come back.
    this.configEnv = {
      UDNS_CONFIG: path.join(this.work, 'config.json'),
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --report-on-signal --report-directory=${path.join(this.work, 'reports')}`.trim(),
    };
  }

  static async start(sizes: WorldSizes, random: SeededRandom): Promise<ChaosWorld> {
    const world = new ChaosWorld(sizes, ['--log-level', 'info']);
    await world.build(random);
    return world;
  }

  private async build(random: SeededRandom): Promise<void> {
    fs.mkdirSync(path.join(this.sharedDir, ZIPPED_FOLDER), { recursive: true });
    fs.mkdirSync(path.join(this.sharedDir, UPLOAD_FOLDER));
    fs.mkdirSync(path.join(this.work, 'reports'));
    fs.writeFileSync(path.join(this.sharedDir, 'hello.txt'), 'hello\n');
    this.bigFile = random.bytes(this.sizes.bigFileBytes);
    fs.writeFileSync(path.join(this.sharedDir, 'big.bin'), this.bigFile);
    for (let i = 0; i < this.sizes.zippedFiles; i++) {
      const data = random.bytes(this.sizes.zippedFileBytes + i);
      const name = `part-${i}.bin`;
      fs.writeFileSync(path.join(this.sharedDir, ZIPPED_FOLDER, name), data);
      this.zipped.set(name, sha256(data));
    }
    this.origin = await startHttpOrigin();
    this.edge = await startEdgeProcess(this.edgeArgs);
    const login = await runCli(['login', this.edge.adminToken, '--server', this.edge.serverUrl], this.configEnv);
    if (login.code !== 0) throw new Error(`udns login failed: ${login.stderr}`);
    this.web = await AgentProcess.start(['http', String(this.origin.port), '--name', WEB_NAME, '--log-level', 'info'], this.configEnv);
    this.share = await AgentProcess.start(['share', this.sharedDir, '--name', SHARE_NAME, '--allow-upload', '--log-level', 'info'], this.configEnv);
  }

  /** `Host` a browser sends for `name`. */
  hostFor(name: string): string {
    return `${name}.localhost:${this.edge.httpPort}`;
  }

  /** The public URL of `path` on the share. */
  shareUrl(pathname: string): string {
    return `http://${this.hostFor(SHARE_NAME)}${pathname}`;
  }

  pidOf(target: ChaosTarget): number | undefined {
    if (target === 'edge') return this.edge.alive() ? this.edge.cli.child.pid : undefined;
    const agent = target === 'web-agent' ? this.web : this.share;
    return agent.alive() ? agent.pid : undefined;
  }

  /** Sends a signal to the target's current process. */
  signal(target: ChaosTarget, signal: NodeJS.Signals): void {
    const pid = this.pidOf(target);
    if (pid !== undefined) process.kill(pid, signal);
  }

  /** SIGKILL; resolves once the process is gone. */
  async kill(target: ChaosTarget): Promise<void> {
    if (target === 'edge') {
      if (this.edge.alive()) this.edge.cli.child.kill('SIGKILL');
      await this.edge.cli.exited;
    } else {
      await (target === 'web-agent' ? this.web : this.share).kill();
    }
  }

  /** Starts the target again after a kill: the edge on its port and data dir, an agent with its arguments. */
  async restart(target: ChaosTarget): Promise<void> {
    if (target === 'edge') {
      this.pastEdgeStderr.push(this.edge.cli.stderr());
      this.edge = await restartEdgeProcess(this.edge, this.edgeArgs);
    } else {
      await (target === 'web-agent' ? this.web : this.share).startAgain(60_000);
    }
  }

  /**
   * Waits until both names answer again through the edge (agents reconnect on their own after
   * an edge restart, with backoff of up to 30 s). Everything a round checks afterwards assumes
   * a healthy world.
   */
  async waitHealthy(timeoutMs: number): Promise<void> {
    await eventually('both names to answer through the edge again', async () => ((await this.unhealthy()).length === 0 ? true : undefined), { timeoutMs, intervalMs: 250 });
  }

  /** The agents whose names do not answer through the edge right now (the edge down: both). */
  async unhealthy(): Promise<Array<Exclude<ChaosTarget, 'edge'>>> {
    const [web, share] = await Promise.all([
      fetchVia(this.edge.httpPort, this.hostFor(WEB_NAME), '/echo').catch(() => undefined),
      fetchVia(this.edge.httpPort, this.hostFor(SHARE_NAME), '/hello.txt').catch(() => undefined),
    ]);
    return [
      ...(web?.status === 200 ? [] : ['web-agent' as const]),
      ...(share?.status === 200 && share.body === 'hello\n' ? [] : ['share-agent' as const]),
    ];
  }

  /**
   * What a stuck agent is waiting for: its sockets (`ss`) and a Node report, copied out of the
   * run's folder (which is removed at the end). Returns a line for the violation.
   */
  async diagnose(target: Exclude<ChaosTarget, 'edge'>): Promise<string> {
    const agent = target === 'web-agent' ? this.web : this.share;
    if (!agent.alive()) return 'process gone';
    const sockets = await run('ss', ['-tnpi']).then(({ stdout }) => stdout, () => '');
    const own = sockets.split('\n').flatMap((line, index, lines) => (line.includes(`pid=${agent.pid},`) ? [`${line.trim()} ${lines[index + 1]?.trim() ?? ''}`] : []));
    const reports = path.join(this.work, 'reports');
    agent.signal('SIGUSR2');
    const report = await eventually('the agent\'s diagnostic report', () => {
      const found = fs.readdirSync(reports).find((name) => name.includes(`.${agent.pid}.`));
      if (found === undefined) return undefined;
      // Whole once it parses: the agent writes it in pieces.
      JSON.parse(fs.readFileSync(path.join(reports, found), 'utf8'));
      return path.join(reports, found);
    }, { timeoutMs: 10_000 }).catch(() => undefined);
    let kept = 'no report';
    if (report !== undefined) {
      kept = path.join(os.tmpdir(), `udns-chaos-stuck-${target}-${agent.pid}.json`);
      fs.copyFileSync(report, kept);
    }
    return `sockets: ${own.join(' || ') || 'none'}; Node report: ${kept}`;
  }

  /** Everything the edge processes and the agent processes wrote on stderr, by program. */
  stderrOf(): { edge: string; agents: string } {
    return {
      edge: [...this.pastEdgeStderr, this.edge.cli.stderr()].join(''),
      agents: [this.web, this.share].flatMap((agent) => [...agent.pastStderr, agent.cli.stderr()]).join(''),
    };
  }

  async close(): Promise<void> {
    for (const target of CHAOS_TARGETS) this.signal(target, 'SIGCONT');
    await Promise.allSettled([this.web?.stop(), this.share?.stop(), this.edge?.stop()]);
    await this.origin?.close();
    fs.rmSync(this.work, { recursive: true, force: true });
  }
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** One GET through the edge with `host`, body read whole; a connection failure throws. */
function fetchVia(port: number, host: string, pathname: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: pathname, agent: false, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('probe timed out')));
    req.end();
  });
}
