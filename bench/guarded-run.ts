import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProcessGroup, redactTokens } from './processes.js';

/**
 * Runs one benchmark with its child processes and a temp work folder, so that whatever ends
 * it (success, an exception, Ctrl-C, SIGTERM/SIGHUP, its --timeout) no child outlives it and
 * the work folder (which may hold a GiB test file) is removed. Exits the process with the
 * run's exit code.
 */
export async function guardedRun(
  label: string,
  timeoutSec: number,
  run: (group: ProcessGroup, workDir: string) => Promise<number>,
): Promise<never> {
  const group = new ProcessGroup();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `udns-${label.replace(/\W+/g, '-')}-`));
  const removeWorkDir = (): void => fs.rmSync(workDir, { recursive: true, force: true });
  let stopping = false;
  const abandon = (why: string, exitCode: number): void => {
    if (stopping) {
      group.killAllNow();
      removeWorkDir();
      process.exit(exitCode);
    }
    stopping = true;
    process.stderr.write(`${label}: ${why}: stopping every child process\n`);
    void group.stopAll(2000).finally(() => {
      removeWorkDir();
      process.exit(exitCode);
    });
  };
  process.on('SIGINT', () => abandon('SIGINT', 130));
  process.on('SIGTERM', () => abandon('SIGTERM', 143));
  process.on('SIGHUP', () => abandon('SIGHUP', 129));
  process.on('exit', () => group.killAllNow());
  setTimeout(() => abandon(`the run took longer than --timeout ${timeoutSec}s`, 1), timeoutSec * 1000).unref();

  let exitCode = 1;
  try {
    exitCode = await run(group, workDir);
  } catch (error) {
    process.stderr.write(`${label}: ${redactTokens((error as Error).stack ?? String(error))}\n`);
  } finally {
    await group.stopAll();
    removeWorkDir();
  }
  process.exit(exitCode);
}
