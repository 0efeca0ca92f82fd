import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, test } from 'vitest';
import { AgentProcess } from '../helpers/agent-process.js';
import { startEdgeProcess } from '../helpers/edge-process.js';
import { startHttpOrigin, startTcpEcho } from '../helpers/origins.js';
import { hasProcStats, readProcessStats } from '../helpers/process-stats.js';
import { SeededRandom } from '../helpers/seeded-random.js';
import { runCli } from '../helpers/test-agent.js';
import { auditLog, type AllowedLine, type LogAudit } from '../helpers/log-audit.js';
import { growthOf, minuteTable, type Sample } from './resource-samples.js';
import { VisitorLoad } from './soak-load.js';

/*
 * The soak (`npm run soak`, before every release): the edge as a process at --log-level info,
 * three agents (http, share, tcp) as `udns` processes, steady visitor load of every kind, and
 * one agent restarted every UDNS_SOAK_CHURN_SECONDS (SIGTERM and SIGKILL in turn). It fails
 * when the edge's RSS or open fds grow more than 10% from just after warm-up to the end, when
 * a log line at warn or above is not in the allow-lists below, or when a visitor is handed
 * wrong bytes as a good answer.
 */

const MINUTES = Number(process.env.UDNS_SOAK_MINUTES ?? 10);
const CHURN_SECONDS = Number(process.env.UDNS_SOAK_CHURN_SECONDS ?? 20);
const WORKERS = Number(process.env.UDNS_SOAK_WORKERS ?? 6);
const SAMPLE_MS = 5000;
/** The limit of the issue: RSS and fds flat within 10%. */
const MAX_GROWTH = 0.10;

/**
 * Warn-or-worse edge log lines a soak may see, each with why. Anything else fails the soak.
 * Agent restarts (SIGTERM), visitors resetting and giving up are all logged below warn.
 */
const EDGE_ALLOWED: readonly AllowedLine[] = [];

/** Warn-or-worse agent log lines a soak may see, each with why. */
const AGENT_ALLOWED: readonly AllowedLine[] = [];

test(`soak for ${MINUTES} min: the edge's RSS and fds stay flat within 10% under load and agent churn, with no unexpected log line`, async (context) => {
  if (!hasProcStats()) context.skip();
  const random = SeededRandom.fromEnv(process.env.UDNS_SOAK_SEED);
  const durationMs = MINUTES * 60_000;
  const warmUpMs = durationMs * 0.2;
  const windowMs = durationMs * 0.2;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-soak-'));
  const shared = path.join(work, 'shared');
  fs.mkdirSync(path.join(shared, 'folder'), { recursive: true });
  fs.mkdirSync(path.join(shared, 'uploads'));
  const shareFile = random.bytes(1024 * 1024);
  fs.writeFileSync(path.join(shared, 'file.bin'), shareFile);
  for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(shared, 'folder', `part-${i}.bin`), random.bytes(100_000));

  const origin = await startHttpOrigin();
  const echo = await startTcpEcho();
  const edge = await startEdgeProcess(['--log-level', 'info']);
  const env = { UDNS_CONFIG: path.join(work, 'config.json') };
  const agents: AgentProcess[] = [];
  let load: VisitorLoad | undefined;
  try {
    expect((await runCli(['login', edge.adminToken, '--server', edge.serverUrl], env)).code).toBe(0);
    agents.push(await AgentProcess.start(['http', String(origin.port), '--name', 'soakweb', '--log-level', 'info'], env));
    agents.push(await AgentProcess.start(['share', shared, '--name', 'soakfiles', '--allow-upload', '--log-level', 'info'], env));
    agents.push(await AgentProcess.start(['tcp', String(echo.port), '--log-level', 'info'], env));
    const tcpAgent = agents[2]!;
    const edgePid = edge.cli.child.pid!;
    const host = (name: string): string => `${name}.localhost:${edge.httpPort}`;
    console.log(`soak: ${MINUTES} min, seed ${random.seed}, ${WORKERS} visitor loops, an agent restarted every ${CHURN_SECONDS} s; edge pid ${edgePid}`);

    const startedAt = Date.now();
    const samples: Sample[] = [];
    const sample = (): void => {
      const stats = readProcessStats(edgePid);
      if (stats) samples.push({ atMs: Date.now() - startedAt, ...stats });
    };
    sample();
    const sampler = setInterval(sample, SAMPLE_MS);
    load = new VisitorLoad({
      port: edge.httpPort, webHost: host('soakweb'), shareHost: host('soakfiles'), apexHost: `localhost:${edge.httpPort}`,
      tcpPort: () => Number(new URL(tcpAgent.url).port), shareFile,
    }, random, WORKERS, 50);

    // Agent churn: the next agent in turn, stopped politely or killed, then started again.
    const restarts = { SIGTERM: 0, SIGKILL: 0 };
    for (let turn = 0; Date.now() - startedAt + CHURN_SECONDS * 1000 < durationMs; turn++) {
      await sleep(CHURN_SECONDS * 1000);
      const agent = agents[turn % agents.length]!;
      const signal = turn % 2 === 0 ? 'SIGTERM' : 'SIGKILL';
      if (signal === 'SIGTERM') await agent.stop();
      else await agent.kill();
      await agent.startAgain(60_000);
      restarts[signal]++;
      expect(edge.alive(), 'the edge process died during the soak').toBe(true);
    }
    await sleep(Math.max(0, durationMs - (Date.now() - startedAt)));
    sample();
    clearInterval(sampler);
    const endMs = Date.now() - startedAt;
    await load.stop();

    const growth = growthOf(samples, warmUpMs, windowMs, endMs);
    const edgeAudit = auditLog(edge.cli.stderr(), EDGE_ALLOWED);
    const agentAudit = auditLog(agents.flatMap((agent) => [...agent.pastStderr, agent.cli.stderr()]).join(''), AGENT_ALLOWED);
    const percent = (value: number): string => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)}%`;
    console.log([
      `soak: ${(endMs / 60_000).toFixed(1)} min, ${load.requests} visitor operations, agents restarted ${restarts.SIGTERM + restarts.SIGKILL}× (${restarts.SIGTERM} SIGTERM, ${restarts.SIGKILL} SIGKILL)`,
      'kind              ok  failed  wrong',
      ...Object.entries(load.tally).map(([kind, counts]) => `${kind.padEnd(14)} ${String(counts.ok).padStart(6)} ${String(counts.failed).padStart(7)} ${String(counts.wrong).padStart(6)}`),
      ...minuteTable(samples),
      `edge RSS: first sample ${(samples[0]!.rssKiB / 1024).toFixed(1)} MiB, after warm-up ${(growth.baseline.rssKiB / 1024).toFixed(1)} MiB, end ${(growth.final.rssKiB / 1024).toFixed(1)} MiB (${percent(growth.rssGrowth)}; limit +10%)`,
      `edge fds: first sample ${samples[0]!.fds}, after warm-up ${growth.baseline.fds.toFixed(1)}, end ${growth.final.fds.toFixed(1)} (${percent(growth.fdGrowth)}; limit +10%)`,
      `windows: ${growth.baselineSamples} samples from minute ${(warmUpMs / 60_000).toFixed(1)}, ${growth.finalSamples} in the last ${(windowMs / 60_000).toFixed(1)} min`,
      describeAudit('edge log', edgeAudit),
      describeAudit('agent logs', agentAudit),
      ...(load.wrongExamples.length > 0 ? [`wrong answers: ${load.wrongExamples.join('; ')}`] : []),
    ].join('\n'));

    expect(load.wrongExamples).toEqual([]);
    expect(edgeAudit.unexpected).toEqual([]);
    expect(agentAudit.unexpected).toEqual([]);
    expect(growth.rssGrowth).toBeLessThanOrEqual(MAX_GROWTH);
    expect(growth.fdGrowth).toBeLessThanOrEqual(MAX_GROWTH);
  } finally {
    await load?.stop();
    await Promise.allSettled(agents.map((agent) => agent.stop()));
    await edge.stop();
    await origin.close();
    await echo.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
});

function describeAudit(what: string, audit: LogAudit): string {
  const levels = Object.entries(audit.byLevel).map(([level, n]) => `${level} ${n}`).join(', ');
  const allowed = Object.entries(audit.allowed).map(([pattern, n]) => `/${pattern}/ ×${n}`).join(', ');
  const unexpected = audit.unexpected.length === 0 ? 'none' : `${audit.unexpected.length}:\n  ${audit.unexpected.slice(0, 20).join('\n  ')}`;
  return `${what}: ${audit.lines} lines (${levels})${allowed ? `; allowed: ${allowed}` : ''}; unexpected: ${unexpected}`;
}
