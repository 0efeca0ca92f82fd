import { setTimeout as sleep } from 'node:timers/promises';
import { expect, test } from 'vitest';
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS } from '../../protocol/index.js';
import { SeededRandom } from '../helpers/seeded-random.js';
import { udnsGet } from './chaos-get.js';
import { shareDownload, sharePost, sharePut, shareZip, type OpContext } from './chaos-operations.js';
import { ChaosWorld } from './chaos-world.js';
import { UploadLedger } from './upload-ledger.js';

const MiB = 1024 * 1024;
const FREEZES = 5;

/*
 * Regression (long suite): a share agent frozen past the heartbeat with uploads, downloads, a
 * ZIP and a `udns get` in flight read, on waking, the edge's resets and the end of its control
 * stream in one burst; destroying the session from inside that receive spun node:http2 at
 * 100% CPU forever and the PC stayed offline (about one freeze in two before the fix in
 * agent/tunnel-connector.ts). Each freeze here must end with the share answering again.
 */
test(`a share agent frozen past the heartbeat with transfers in flight comes back, ${FREEZES} times`, async () => {
  const random = SeededRandom.fromEnv(process.env.UDNS_CHAOS_SEED);
  console.log(`seed ${random.seed}`);
  const world = await ChaosWorld.start({ bigFileBytes: 24 * MiB, zippedFiles: 8, zippedFileBytes: MiB }, random);
  const context: OpContext = {
    world, random, uploads: new UploadLedger(), stallBoundMs: 90_000, getBoundMs: 200_000, maxTransferBytes: 12 * MiB, maxPaceMs: 30, moving: () => {},
  };
  const heartbeatMs = HEARTBEAT_INTERVAL_MS + HEARTBEAT_TIMEOUT_MS;
  try {
    for (let freeze = 0; freeze < FREEZES; freeze++) {
      const work = [sharePut(context, `p${freeze}.bin`), sharePost(context, `q${freeze}.bin`), shareZip(context), shareDownload(context), udnsGet(context, 'file', `g${freeze}`)];
      await sleep(random.int(500, 1500));
      world.signal('share-agent', 'SIGSTOP');
      await sleep(heartbeatMs + random.int(500, 6000));
      world.signal('share-agent', 'SIGCONT');
      const outcomes = await Promise.all(work);
      expect(outcomes.flatMap((outcome) => outcome.violations)).toEqual([]);
      // The bound of the chaos runs; a stuck agent never answers (and spins a core meanwhile).
      const back = await world.waitHealthy(90_000).then(() => 'back', async () => `stuck: ${await world.diagnose('share-agent')}`);
      expect(back, `freeze ${freeze + 1}`).toBe('back');
    }
  } finally {
    await world.close();
  }
}, FREEZES * 3 * 60_000);
