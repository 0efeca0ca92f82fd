import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS } from '../../protocol/index.js';
import { backoffDelayMs } from '../../cli/download/download-retry.js';
import { SHARE_IDLE_TIMEOUT_MS } from '../../cli/download/share-http.js';
import { eventually } from '../helpers/eventually.js';
import type { SeededRandom } from '../helpers/seeded-random.js';
import { applyFault, describeFault, FaultPicker, type Fault } from './chaos-faults.js';
import { GET_RETRIES, udnsGet } from './chaos-get.js';
import { OP_KINDS, shareDownload, sharePost, sharePut, shareZip, webDownload, webUpload, type OpContext, type OpKind, type OpOutcome } from './chaos-operations.js';
import { webSocketSession } from './chaos-websocket.js';
import { ChaosWorld, CHAOS_TARGETS, UPLOAD_FOLDER, type ChaosTarget, type WorldSizes } from './chaos-world.js';
import { auditLog, type AllowedLine } from '../helpers/log-audit.js';
import { UploadLedger } from './upload-ledger.js';
import type { OpResult } from './visitor-exchange.js';

/** How a chaos run is shaped. */
export interface ChaosOptions {
  random: SeededRandom;
  /** `deck`: each kind of fault once (the fast run); `random`: until `durationMs` has passed. */
  faults: 'deck' | 'random';
  durationMs?: number;
  /** Longest SIGSTOP. */
  maxStopMs: number;
  opsPerRound: readonly [number, number];
  sizes: WorldSizes;
  maxTransferBytes: number;
  maxPaceMs: number;
  /** Share of rounds whose fault waits for their first operation (one the fault hits) to be mid-transfer. */
  triggerShare: number;
  log: (line: string) => void;
}

/** What a run did and found. */
export interface ChaosReport {
  seed: number;
  rounds: number;
  minutes: number;
  stallBoundMs: number;
  faults: Record<string, number>;
  ops: Record<OpKind, Record<OpResult, number>>;
  bytes: number;
  uploadsAcked: number;
  getResumes: number;
  /** Hidden upload temp files the share agent's kills left behind. */
  tempFilesLeft: number;
  violations: string[];
  /** Misleading answers (see OpOutcome.findings), with how often each was seen. */
  findings: Record<string, number>;
}

/** Margin over the heartbeat for a visitor to hear of a dead tunnel (scheduling on 2 busy cores). */
const HANG_MARGIN_MS = 10_000;

/**
 * Rounds of: visitors start operations of every kind (pacing themselves so they are still
 * moving), a fault lands at a random moment, then everything must settle within the bounds,
 * the world come back healthy, and the disk hold every acknowledged upload and no partial file.
 *
 * The bound on a hang: an operation may go without progress for at most the longest freeze
 * plus the heartbeat's detection time (HEARTBEAT_INTERVAL_MS + HEARTBEAT_TIMEOUT_MS = 20 s:
 * how long the edge takes to declare a frozen agent dead and reset its visitors) plus a 10 s
 * margin. A frozen edge stalls its visitors for the freeze itself, then a dead tunnel shows at
 * once (its agent will have given up on it) or the transfer goes on.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const { random, log } = options;
  const startedAt = Date.now();
  const stallBoundMs = options.maxStopMs + HEARTBEAT_INTERVAL_MS + HEARTBEAT_TIMEOUT_MS + HANG_MARGIN_MS;
  let backoffTotal = 0;
  for (let attempt = 1; attempt <= GET_RETRIES; attempt++) backoffTotal += backoffDelayMs(attempt);
  const getBoundMs = stallBoundMs + SHARE_IDLE_TIMEOUT_MS + backoffTotal + 30_000;
  const report: ChaosReport = {
    seed: random.seed, rounds: 0, minutes: 0, stallBoundMs, faults: {}, ops: emptyTally(), bytes: 0,
    uploadsAcked: 0, getResumes: 0, tempFilesLeft: 0, violations: [], findings: {},
  };
  const world = await ChaosWorld.start(options.sizes, random);
  const uploads = new UploadLedger();
  const context: OpContext = {
    world, random, uploads, stallBoundMs, getBoundMs, maxTransferBytes: options.maxTransferBytes, maxPaceMs: options.maxPaceMs,
    moving: () => {},
  };
  const picker = new FaultPicker(random, options.faults, options.maxStopMs);
  const knownTemp = new Set<string>();
  try {
    for (let round = 1; ; round++) {
      if (options.faults === 'deck' ? round > picker.deckSize : Date.now() - startedAt >= (options.durationMs ?? 0)) break;
      const fault = picker.next();
      const violations = await runRound(context, round, fault, options, report);
      // The disk, once everything settled: acknowledged uploads whole, nothing partial in place.
      const disk = uploads.check(path.join(world.sharedDir, UPLOAD_FOLDER));
      violations.push(...disk.violations);
      const fresh = disk.tempFiles.filter((name) => !knownTemp.has(name));
      if (fresh.length > 0 && !(fault.kind === 'kill' && fault.target === 'share-agent')) {
        // Only a killed agent cannot clean up; any other fault must leave no temp file behind.
        const left = await eventually('upload temp files to be removed', () => {
          const still = uploads.check(path.join(world.sharedDir, UPLOAD_FOLDER)).tempFiles.filter((name) => !knownTemp.has(name));
          return still.length === 0 ? [] : undefined;
        }, { timeoutMs: 10_000 }).catch(() => fresh);
        if (left.length > 0) violations.push(`${left.length} upload temp file(s) left after "${describeFault(fault)}", which let the agent clean up`);
      }
      for (const name of uploads.check(path.join(world.sharedDir, UPLOAD_FOLDER)).tempFiles) knownTemp.add(name);
      report.rounds = round;
      for (const violation of violations) report.violations.push(`round ${round} (${describeFault(fault)}): ${violation}`);
      if (violations.length > 0) log(`  round ${round}: ${violations.length} violation(s):\n    ${violations.join('\n    ')}`);
    }
  } catch (error) {
    report.violations.push(`the run broke off: ${(error as Error).message}`);
    log(lastLogs(world));
  } finally {
    report.violations.push(...oddOutput(world));
    report.uploadsAcked = uploads.ackedCount;
    report.tempFilesLeft = knownTemp.size;
    report.minutes = (Date.now() - startedAt) / 60_000;
    if (report.violations.length > 0) log(lastLogs(world));
    await world.close();
  }
  return report;
}

async function runRound(context: OpContext, round: number, fault: Fault, options: ChaosOptions, report: ChaosReport): Promise<string[]> {
  const { random, world } = context;
  const roundStartedAt = Date.now();
  const count = random.int(options.opsPerRound[0], options.opsPerRound[1]);
  const kinds = Array.from({ length: count }, () => random.pick(OP_KINDS));
  // The moment the fault lands: most rounds wait until their first operation is mid-transfer
  // (a transfer of a few MiB on loopback is over in a blink, so a clock alone rarely hits one);
  // the others pick a time, with operations starting before it.
  const trigger = random.chance(options.triggerShare);
  if (trigger) kinds[0] = random.pick(affectedBy(fault.target));
  const faultAtMs = random.int(200, 1500);
  let firstMoving: () => void = () => {};
  const moving = new Promise<void>((resolve) => { firstMoving = resolve; });
  const running = kinds.map((kind, index) => {
    const startMs = index === 0 && trigger ? 0 : random.int(0, faultAtMs - 100);
    const opContext: OpContext = { ...context, moving: index === 0 ? () => firstMoving() : () => {} };
    return sleep(startMs).then(async () => {
      const opStartedAt = Date.now();
      const outcome = await runOp(opContext, kind, `r${round}-${index}`);
      // The same object, not a copy: afterHealthy still writes its `resumed` on it.
      return Object.assign(outcome, { startMs, ms: Date.now() - opStartedAt });
    });
  });
  if (trigger) await Promise.race([moving.then(() => sleep(random.int(0, 50))), running[0]]);
  else await sleep(faultAtMs);
  const lives = liveProcesses(world);
  const faultStartedAt = Date.now();
  await applyFault(world, fault);
  const faultMs = Date.now() - faultStartedAt;
  report.faults[`${fault.kind} ${fault.target}`] = (report.faults[`${fault.kind} ${fault.target}`] ?? 0) + 1;
  const outcomes = await Promise.all(running);
  const violations = outcomes.flatMap((outcome) => outcome.violations);
  // Nothing but the fault may end a process: a crash of the edge or an agent is the worst finding.
  for (const target of CHAOS_TARGETS) {
    if (target === fault.target && fault.kind === 'kill') continue;
    if (lives[target] !== world.pidOf(target)) {
      violations.push(`${target} exited on its own: ${exitStory(world, target)}`);
      await world.restart(target);
    }
  }
  const settledAt = Date.now();
  violations.push(...(await recover(world, fault)));
  const healthyAt = Date.now();
  const later = await Promise.all(outcomes.map((outcome) => outcome.afterHealthy?.() ?? []));
  violations.push(...later.flat());
  for (const outcome of outcomes) {
    for (const finding of outcome.findings ?? []) {
      // Sizes vary; the kind of answer is the finding.
      const key = `${finding.replace(/\d+ bytes/g, 'N bytes')} (during ${fault.kind} ${fault.target})`;
      report.findings[key] = (report.findings[key] ?? 0) + 1;
    }
    report.ops[outcome.kind][outcome.result]++;
    report.bytes += outcome.bytes;
    if (outcome.resumed) report.getResumes++;
  }
  const tally = outcomes.map((outcome) => `${outcome.kind}:${outcome.result}${outcome.resumed ? '+resumed' : ''}(${outcome.startMs}+${outcome.ms})`).join(' ');
  const seconds = (from: number, to: number): string => ((to - from) / 1000).toFixed(1);
  const when = trigger ? `once ${kinds[0]} moved` : `at ${faultAtMs} ms`;
  options.log(`round ${round}: ${describeFault(fault)} ${when}; ${tally} (fault took ${faultMs} ms, settled ${seconds(roundStartedAt, settledAt)} s, healthy +${seconds(settledAt, healthyAt)} s, done +${seconds(healthyAt, Date.now())} s)`);
  return violations;
}

/** Operations a fault of `target` can cut: the edge carries all of them, each agent its own. */
function affectedBy(target: ChaosTarget): readonly OpKind[] {
  if (target === 'edge') return OP_KINDS;
  if (target === 'web-agent') return ['web-download', 'web-upload', 'websocket'];
  return ['share-download', 'share-put', 'share-post', 'share-zip', 'get-file', 'get-zip'];
}

/**
 * How long the world may take to answer again after a fault: an edge restart (a few seconds on
 * a loaded machine) plus the agents' reconnect backoff, or a 30 s freeze plus the heartbeat.
 */
const RECOVERY_BOUND_MS = 90_000;

/**
 * Waits for both names to answer again. An agent that has not come back within the bound is a
 * finding (a PC that stays offline after a fault until someone restarts udns): it is recorded,
 * with the agent's last words, and the agent is restarted so the run can go on.
 */
async function recover(world: ChaosWorld, fault: Fault): Promise<string[]> {
  try {
    await world.waitHealthy(RECOVERY_BOUND_MS);
    return [];
  } catch {
    const stuck = await world.unhealthy();
    const problems: string[] = [];
    for (const target of stuck) {
      const agent = target === 'web-agent' ? world.web : world.share;
      const tail = agent.cli.stderr().trim().split('\n').slice(-6).join(' | ');
      problems.push(`${target} did not answer again within ${RECOVERY_BOUND_MS / 1000} s after "${describeFault(fault)}"; its stderr ends: ${tail}; ${await world.diagnose(target)}`);
    }
    for (const target of stuck) {
      await world.kill(target);
      await world.restart(target);
    }
    await world.waitHealthy(RECOVERY_BOUND_MS);
    return problems.length > 0 ? problems : [`the world did not answer within ${RECOVERY_BOUND_MS / 1000} s after "${describeFault(fault)}", then did`];
  }
}

function runOp(context: OpContext, kind: OpKind, id: string): Promise<OpOutcome> {
  switch (kind) {
    case 'web-download': return webDownload(context);
    case 'web-upload': return webUpload(context);
    case 'websocket': return webSocketSession(context);
    case 'share-download': return shareDownload(context);
    case 'share-put': return sharePut(context, `put-${id}.bin`);
    case 'share-post': return sharePost(context, `post-${id}.bin`);
    case 'share-zip': return shareZip(context);
    case 'get-file': return udnsGet(context, 'file', id);
    case 'get-zip': return udnsGet(context, 'zip', id);
  }
}

function liveProcesses(world: ChaosWorld): Record<ChaosTarget, number | undefined> {
  return { edge: world.pidOf('edge'), 'web-agent': world.pidOf('web-agent'), 'share-agent': world.pidOf('share-agent') };
}

function exitStory(world: ChaosWorld, target: ChaosTarget): string {
  const cli = target === 'edge' ? world.edge.cli : target === 'web-agent' ? world.web.cli : world.share.cli;
  return `exit ${cli.child.exitCode ?? cli.child.signalCode}; stderr ends: ${cli.stderr().slice(-2000)}`;
}

/** Every warn and error line is allowed here: they are what faults cause. */
const ANY_LEVEL: readonly AllowedLine[] = [{ pattern: /[^]*/, why: 'faults cause warnings' }];
/** Plain text the CLI prints by design. */
const CLI_NOTES: readonly AllowedLine[] = [{ pattern: /^udns: /, why: 'the CLI\'s own notes: reconnecting, reconnected' }];

/**
 * Output no fault excuses: a fatal log line, or anything on stderr that is neither a pino line
 * nor one of the CLI's own `udns: …` notes (a Node warning such as DEP0137 "Closing a
 * FileHandle on garbage collection", an uncaught exception's stack).
 */
function oddOutput(world: ChaosWorld): string[] {
  const { edge, agents } = world.stderrOf();
  const problems: string[] = [];
  for (const [program, text] of [['edge', edge], ['agents', agents]] as const) {
    const audit = auditLog(text, ANY_LEVEL, CLI_NOTES);
    for (const line of audit.unexpected) problems.push(`${program} printed: ${line}`);
    if (audit.byLevel.fatal) problems.push(`${program} logged ${audit.byLevel.fatal} fatal line(s)`);
  }
  return problems;
}

function lastLogs(world: ChaosWorld): string {
  const tail = (text: string): string => text.trim().split('\n').slice(-15).join('\n    ');
  return [
    `  edge stderr (last lines):\n    ${tail(world.edge.cli.stderr())}`,
    `  web agent stderr (last lines):\n    ${tail(world.web.cli.stderr())}`,
    `  share agent stderr (last lines):\n    ${tail(world.share.cli.stderr())}`,
  ].join('\n');
}

function emptyTally(): Record<OpKind, Record<OpResult, number>> {
  return Object.fromEntries(OP_KINDS.map((kind) => [kind, { complete: 0, refused: 0, broken: 0 }])) as Record<OpKind, Record<OpResult, number>>;
}

/** The report as a few lines of text: the figures a reader of the run wants. */
export function formatChaosReport(report: ChaosReport): string {
  const lines = [
    `chaos: seed ${report.seed} (replay with UDNS_CHAOS_SEED=${report.seed}), ${report.rounds} rounds in ${report.minutes.toFixed(1)} min, hang bound ${report.stallBoundMs / 1000} s without progress`,
    `faults: ${Object.entries(report.faults).map(([fault, n]) => `${fault} ×${n}`).join(', ')}`,
    'operation        complete  refused  broken',
  ];
  for (const [kind, tally] of Object.entries(report.ops)) {
    lines.push(`${kind.padEnd(16)} ${String(tally.complete).padStart(8)} ${String(tally.refused).padStart(8)} ${String(tally.broken).padStart(7)}`);
  }
  lines.push(`${(report.bytes / 1024 / 1024).toFixed(1)} MiB verified; uploads acknowledged ${report.uploadsAcked} (all found whole); udns get resumed from .part ${report.getResumes}×; upload temp files left by killed agents ${report.tempFilesLeft}`);
  const findings = Object.entries(report.findings);
  lines.push(findings.length === 0 ? 'misleading answers: none' : `misleading answers:\n  ${findings.map(([finding, n]) => `${finding} ×${n}`).join('\n  ')}`);
  lines.push(report.violations.length === 0 ? 'violations: none' : `violations (${report.violations.length}):\n  ${report.violations.join('\n  ')}`);
  return lines.join('\n');
}

