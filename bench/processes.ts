import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import readline from 'node:readline';

/** stdout kept per child (wrk's report, readiness lines); more is dropped from the front. */
const MAX_STDOUT_CHARS = 256 * 1024;
/** stderr lines kept per child, to show when something fails. */
const STDERR_TAIL_LINES = 40;

/** How to start one child. */
export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Keep a stdin pipe open: a child that exits when stdin closes then dies with this process. */
  keepStdin?: boolean;
  /** Own process group, signalled as a whole (sshd's per-connection children). */
  detached?: boolean;
}

/** Hides account tokens in anything this benchmark prints (the edge prints one on first start). */
export function redactTokens(text: string): string {
  return text.replace(/udns_[A-Za-z0-9_-]+/g, 'udns_<redacted>');
}

/**
 * One child process with its output captured: stdout lines can be awaited, stderr's tail is
 * kept for error reports. Created through {@link ProcessGroup.start} so cleanup can reach it.
 */
export class ManagedProcess extends EventEmitter {
  /** Resolves when the process has exited (or failed to spawn). */
  readonly exited: Promise<void>;
  /** Resolves when its stdout and stderr have closed too: all output has been read. */
  readonly closed: Promise<void>;
  private stdoutText = '';
  private readonly stderrTail: string[] = [];
  private exitDescription: string | null = null;

  constructor(readonly name: string, private readonly child: ChildProcess, private readonly detached: boolean) {
    super();
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      this.stdoutText = (this.stdoutText + line + '\n').slice(-MAX_STDOUT_CHARS);
      this.emit('line', line);
    });
    readline.createInterface({ input: child.stderr! }).on('line', (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitDescription = signal ? `killed by ${signal}` : `exited with code ${code}`;
        resolve();
      });
      child.once('error', (error) => {
        this.exitDescription = `failed: ${error.message}`;
        resolve();
      });
    });
    this.closed = new Promise((resolve) => {
      child.once('close', () => resolve());
      child.once('error', () => resolve());
    });
    child.stdin?.on('error', () => {});
  }

  /** Its process id (undefined if it never started). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True until the process exits. */
  get running(): boolean {
    return this.exitDescription === null;
  }

  /** How it ended ("exited with code 1"), or null while it runs. */
  get exitStatus(): string | null {
    return this.exitDescription;
  }

  /** Everything read from stdout so far (the last 256 KiB). */
  get stdout(): string {
    return this.stdoutText;
  }

  /** stdout and the stderr tail, tokens redacted, for error messages. */
  describe(): string {
    const stderr = this.stderrTail.join('\n');
    return redactTokens(`--- ${this.name} (${this.exitDescription ?? 'running'})\n${this.stdoutText.slice(-4000)}${stderr ? `[stderr]\n${stderr}\n` : ''}`);
  }

  /** Waits for a stdout line matching `pattern`; fails if the process exits or time runs out. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const earlier = this.stdoutText.split('\n').map((line) => pattern.exec(line)).find((m) => m !== null);
    if (earlier) return Promise.resolve(earlier);
    return new Promise((resolve, reject) => {
      const onLine = (line: string): void => {
        const match = pattern.exec(line);
        if (match) finish(() => resolve(match));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`${this.name}: no line matching ${pattern} within ${timeoutMs} ms\n${this.describe()}`))), timeoutMs);
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        this.off('line', onLine);
        settle();
      };
      this.on('line', onLine);
      void this.exited.then(() => finish(() => reject(new Error(`${this.name} ${this.exitDescription} before printing ${pattern}\n${this.describe()}`))));
    });
  }

  /** Sends a signal to the process (or its whole group when detached); ignores a dead one. */
  signal(signal: NodeJS.Signals): void {
    if (!this.running || this.child.pid === undefined) return;
    try {
      if (this.detached) process.kill(-this.child.pid, signal);
      else this.child.kill(signal);
    } catch {
      // Already gone between the check and the kill: nothing left to stop.
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited (bounded). */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.signal('SIGTERM');
    if (await settlesWithin(this.exited, graceMs)) return;
    this.signal('SIGKILL');
    await settlesWithin(this.exited, 2000);
  }
}

/** Every child this run started, so that any exit path (error, Ctrl-C, timeout) can end them. */
export class ProcessGroup {
  private readonly members: ManagedProcess[] = [];
  private closing = false;

  /** Spawns `command` and tracks it; refuses once {@link stopAll} has begun. */
  start(name: string, command: string, args: readonly string[], options: StartOptions = {}): ManagedProcess {
    if (this.closing) throw new Error(`not starting ${name}: the benchmark is shutting down`);
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.keepStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      detached: options.detached ?? false,
    });
    const managed = new ManagedProcess(name, child, options.detached ?? false);
    this.members.push(managed);
    return managed;
  }

  /** Children still running, oldest first. */
  live(): ManagedProcess[] {
    return this.members.filter((member) => member.running);
  }

  /** Stops every running child, newest first (agent before edge, ssh before sshd). */
  async stopAll(graceMs = 5000): Promise<void> {
    this.closing = true;
    for (const member of [...this.members].reverse()) await member.stop(graceMs);
  }

  /** SIGKILLs whatever still runs, synchronously: for `process.on('exit')`. */
  killAllNow(): void {
    for (const member of this.members) member.signal('SIGKILL');
  }
}

/**
 * Starts one of the benchmark's own helper servers (a compiled script beside the benchmark) as a
 * Node child with no inherited NODE_OPTIONS that exits when its stdin closes, so it cannot
 * outlive this run, and waits for the line it prints once listening (`listening`, whose first
 * group is the port).
 */
export async function startHelperServer(group: ProcessGroup, name: string, script: string, args: string[], listening: RegExp): Promise<{ port: number; process: ManagedProcess }> {
  const child = group.start(name, process.execPath, [script, ...args], { keepStdin: true, env: { ...process.env, NODE_OPTIONS: '' } });
  const match = await child.waitForLine(listening, 15_000);
  return { port: Number(match[1]), process: child };
}

/** A port that was free on 127.0.0.1 a moment ago (for programs that cannot listen on 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Polls until 127.0.0.1:`port` accepts a TCP connection; fails early if `owner` exits. */
export async function waitForPort(port: number, timeoutMs: number, owner?: ManagedProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await connects(port)) return;
    if (owner && !owner.running) throw new Error(`${owner.name} ${owner.exitStatus} before port ${port} opened\n${owner.describe()}`);
    if (Date.now() > deadline) throw new Error(`port ${port} did not accept connections within ${timeoutMs} ms${owner ? `\n${owner.describe()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(false));
  });
}

/** True if `promise` settles within `ms`. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
