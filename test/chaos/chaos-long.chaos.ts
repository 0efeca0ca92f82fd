import { expect, test } from 'vitest';
import { SeededRandom } from '../helpers/seeded-random.js';
import { formatChaosReport, runChaos } from './chaos-run.js';

const MiB = 1024 * 1024;
const MINUTES = Number(process.env.UDNS_CHAOS_MINUTES ?? 10);

/*
 * The long chaos run (`npm run test:chaos`; UDNS_CHAOS_MINUTES, default 10, and
 * UDNS_CHAOS_SEED to replay): faults drawn at random for the whole time, freezes up to 30 s so
 * both heartbeats (edge and agent, 20 s to declare a peer dead) come into play, larger files
 * and more visitors per round than the fast run in `npm test`.
 */
test(`chaos for ${MINUTES} min: kills and freezes of the edge and the agents hang no visitor, pass off no cut body as whole, lose no acknowledged upload`, async () => {
  const random = SeededRandom.fromEnv(process.env.UDNS_CHAOS_SEED);
  console.log(`chaos seed ${random.seed} (replay: UDNS_CHAOS_SEED=${random.seed})`);
  const report = await runChaos({
    random,
    faults: 'random',
    durationMs: MINUTES * 60_000,
    maxStopMs: 30_000,
    opsPerRound: [4, 9],
    sizes: { bigFileBytes: 24 * MiB, zippedFiles: 8, zippedFileBytes: MiB },
    maxTransferBytes: 12 * MiB,
    maxPaceMs: 30,
    triggerShare: 0.6,
    log: (line) => console.log(line),
  });
  console.log(formatChaosReport(report));
  expect(report.violations).toEqual([]);
  expect(report.findings).toEqual({});
}, (MINUTES + 15) * 60_000);
