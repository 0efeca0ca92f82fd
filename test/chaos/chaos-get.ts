import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { partFilesFor } from '../../cli/download/part-state.js';
import { spawnCli } from '../helpers/test-agent.js';
import { sha256 } from './chaos-world.js';
import type { OpContext, OpOutcome } from './chaos-operations.js';
import { judgeZipFile } from './zip-check.js';

/** `--retries` of every chaos `udns get`: 0.5+1+2+4+8+8 s of backoff, enough to ride out any one fault. */
export const GET_RETRIES = 6;

/**
 * `udns get` as a process, of big.bin (resumable, SHA-256 verified) or of the `zipped/` folder
 * (a streamed ZIP, restarted from zero when cut). Now and then the get itself is killed or
 * frozen too. Whatever happens, the output file is either absent or exactly right: the bytes
 * live in `.part` until verified. After the round, a get that did not finish is run again on
 * the healthy world and must finish, going on from its `.part` where there is one.
 */
export async function udnsGet(context: OpContext, variant: 'file' | 'zip', id: string): Promise<OpOutcome> {
  const { world, random } = context;
  const kind = variant === 'file' ? 'get-file' : 'get-zip';
  const dir = path.join(world.work, 'gets', id);
  fs.mkdirSync(dir, { recursive: true });
  const out = path.join(dir, variant === 'file' ? 'big.bin' : 'zipped.zip');
  const url = world.shareUrl(variant === 'file' ? '/big.bin' : '/zipped/');
  const selfFault = random.chance(0.35) ? random.pick(['SIGKILL', 'SIGSTOP'] as const) : null;
  const first = await runGet(context, url, out, selfFault);
  const violations = [...first.violations, ...(await checkOutput(context, variant, out, first.code))];
  const outcome: OpOutcome = { kind, result: first.code === 0 ? 'complete' : 'broken', bytes: first.code === 0 ? fs.statSync(out, { throwIfNoEntry: false })?.size ?? 0 : 0, violations };
  if (first.code !== 0) {
    outcome.afterHealthy = async () => {
      if (fs.existsSync(out)) return [];
      const hadPart = fs.existsSync(partFilesFor(out).part) && fs.statSync(partFilesFor(out).part).size > 0;
      const again = await runGet(context, url, out, null);
      const problems = [...again.violations, ...(await checkOutput(context, variant, out, again.code))];
      if (again.code !== 0) problems.push(`udns get ${url} failed again on a healthy world (exit ${again.code}): ${again.stderr.trim()}`);
      // The result line says so: `saved … (…, SHA-256 verified, resumed at 2.0 MiB)`.
      outcome.resumed = variant === 'file' && hadPart && /resumed at/.test(again.stdout);
      return problems;
    };
  }
  return outcome;
}

interface GetRun {
  code: number | null;
  stdout: string;
  stderr: string;
  violations: string[];
}

async function runGet(context: OpContext, url: string, out: string, selfFault: 'SIGKILL' | 'SIGSTOP' | null): Promise<GetRun> {
  const { random } = context;
  const cli = spawnCli(['get', url, '-o', out, '--no-progress', '--retries', String(GET_RETRIES)]);
  const part = partFilesFor(out).part;
  // Moving once bytes are on disk: the tell of a transfer under way, for the round and the self-fault.
  const moving = (async () => {
    const running = (): boolean => cli.child.exitCode === null && cli.child.signalCode === null;
    while (running() && !fs.statSync(part, { throwIfNoEntry: false })?.size) await sleep(5);
    if (running()) context.moving();
  })();
  let hung = false;
  const bound = setTimeout(() => {
    hung = true;
    cli.child.kill('SIGCONT');
    cli.child.kill('SIGKILL');
  }, context.getBoundMs);
  if (selfFault !== null) {
    void (async () => {
      // Once bytes are on disk, so that the next run has a .part to go on from.
      await moving;
      await sleep(random.int(0, 30));
      if (cli.child.exitCode !== null) return;
      cli.child.kill(selfFault);
      if (selfFault === 'SIGSTOP') {
        await sleep(random.int(200, 3000));
        cli.child.kill('SIGCONT');
      }
    })();
  }
  const { code } = await cli.exited;
  clearTimeout(bound);
  const violations = hung ? [`udns get ${url} still running after ${context.getBoundMs} ms: killed (${cli.stderr().trim().split('\n').slice(-3).join(' | ')})`] : [];
  return { code, stdout: cli.stdout(), stderr: cli.stderr(), violations };
}

/** The output is absent, or whole and right; a success leaves no .part behind. */
async function checkOutput(context: OpContext, variant: 'file' | 'zip', out: string, code: number | null): Promise<string[]> {
  const violations: string[] = [];
  const part = partFilesFor(out);
  if (fs.existsSync(out)) {
    if (variant === 'file') {
      const saved = fs.readFileSync(out);
      if (!saved.equals(context.world.bigFile)) violations.push(`udns get put ${out} in place with ${saved.length} bytes (sha ${sha256(saved).slice(0, 12)}) that are not the shared file`);
    } else {
      const verdict = await judgeZipFile(out, context.world.zipped);
      if (verdict !== 'whole') violations.push(`udns get put ${out} in place but unzip finds it ${verdict}`);
    }
  } else if (code === 0) {
    violations.push(`udns get exited 0 but ${out} is not there`);
  }
  if (code === 0 && (fs.existsSync(part.part) || fs.existsSync(part.state))) violations.push(`udns get exited 0 but left ${part.part}`);
  return violations;
}
