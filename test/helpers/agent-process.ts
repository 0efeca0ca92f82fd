import { spawnCli, type CliProcess, type CliSpawnOptions } from './test-agent.js';
import { eventually } from './eventually.js';

/**
 * An agent command (`udns http …`, `udns share …`, `udns tcp …`) as a real process that can be
 * killed, frozen and started again with the same arguments, as a user's PC would be.
 */
export class AgentProcess {
  /** The running process (a new one after each start). */
  cli!: CliProcess;
  /** The public URL it printed (`<url> -> <target>`). */
  url = '';
  /** Processes started so far, restarts included. */
  starts = 0;
  /** stderr of every earlier process, oldest first (the current one is `cli.stderr()`). */
  readonly pastStderr: string[] = [];

  private constructor(readonly args: string[], readonly env: NodeJS.ProcessEnv, readonly spawnOptions: CliSpawnOptions) {}

  /** Starts `udns <args>` (inside `options.netns` if given) and waits until it printed its URL. */
  static async start(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000, options: CliSpawnOptions = {}): Promise<AgentProcess> {
    const agent = new AgentProcess(args, env, options);
    await agent.startAgain(timeoutMs);
    return agent;
  }

  get pid(): number {
    return this.cli.child.pid!;
  }

  /** True while the current process has not exited. */
  alive(): boolean {
    return this.cli.child.exitCode === null && this.cli.child.signalCode === null;
  }

  /**
   * Starts a new process (the previous one must be gone) and waits for its URL. The first
   * connection of `udns http` fails at once when the edge is unreachable (a restarting edge),
   * so it is started again until it comes up or `timeoutMs` passes.
   */
  async startAgain(timeoutMs = 30_000): Promise<void> {
    if (this.cli && this.alive()) throw new Error(`agent ${this.args.join(' ')} is still running`);
    await eventually(`udns ${this.args.join(' ')} to come up`, async () => {
      if (this.cli) this.pastStderr.push(this.cli.stderr());
      this.cli = spawnCli(this.args, this.env, this.spawnOptions);
      this.starts++;
      const out = await this.cli.waitForOutput(/ -> /, 15_000).catch(async (error: unknown) => {
        this.cli.child.kill('SIGKILL');
        await this.cli.exited;
        throw error;
      });
      this.url = / -> /.test(out) ? out.split('\n').find((line) => line.includes(' -> '))!.split(' -> ')[0]!.trim() : '';
      return true;
    }, { timeoutMs, intervalMs: 250 });
  }

  /** Sends `signal` to the current process (SIGCONT first would be the caller's business). */
  signal(signal: NodeJS.Signals): void {
    if (this.alive()) this.cli.child.kill(signal);
  }

  /** SIGKILL, and resolves once it is gone. */
  async kill(): Promise<void> {
    if (this.alive()) this.cli.child.kill('SIGKILL');
    await this.cli.exited;
  }

  /** SIGTERM (SIGCONT first, in case it is frozen), SIGKILL if it lingers. */
  async stop(): Promise<void> {
    if (!this.alive()) return;
    this.cli.child.kill('SIGCONT');
    this.cli.child.kill('SIGTERM');
    const timer = setTimeout(() => this.cli.child.kill('SIGKILL'), 5000);
    await this.cli.exited;
    clearTimeout(timer);
  }
}
