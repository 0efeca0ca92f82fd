import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openAccountStore, type AccountStore } from '../../server/accounts/account-store.js';
import type { SearchIndex } from '../../server/search/search-index.js';
import { createSearchIndex } from '../../server/search/sql-search-index.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { startEdgeProcess, type EdgeProcess } from '../helpers/edge-process.js';
import { restartEdgeProcess } from '../helpers/edge-restart.js';
import { eventually } from '../helpers/eventually.js';
import { queryRows } from '../helpers/test-databases.js';
import { runCli, testCacheHome } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { writeTokenFile } from '../helpers/token-file.js';

/*
 * The index sync with a real agent process (`udns share DIR --list`) and the real edge: the
 * listing, a changed file's delta, SIGKILL (offline, kept), a restart (online again, only the
 * differing buckets sent), Ctrl-C (removed), `udns name release` (removed) and `--expires`
 * (removed). The edge's "share listed" log line says how many buckets it asked for.
 */

const FILES = 300;

let edge: TestEdge;
let store: AccountStore;
let index: SearchIndex;
let flags: string[];
const folders: string[] = [];

beforeAll(async () => {
  edge = await startTestEdge();
  store = await openAccountStore({ dataDir: edge.dataDir });
  index = createSearchIndex(store);
  flags = ['--server', edge.serverUrl, '--token-file', writeTokenFile(edge.adminToken)];
});
afterAll(async () => {
  await store?.close();
  await edge?.close();
  for (const folder of folders) fs.rmSync(folder, { recursive: true, force: true });
});

/** A folder of FILES small files (and a Korean report), as a share would hold. */
function folder(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-listed-'));
  folders.push(root);
  fs.mkdirSync(path.join(root, 'reports'));
  for (let i = 0; i < FILES - 1; i++) fs.writeFileSync(path.join(root, 'reports', `report-${i}.txt`), `report ${i}\n`);
  fs.writeFileSync(path.join(root, '2024_연말보고서_최종.hwp'), 'hwp\n');
  return root;
}

/** The stored size of each path of a share (none when it is not listed). */
async function storedFiles(label: string, dataDir = edge.dataDir): Promise<Map<string, number>> {
  const rows = await queryRows({ dialect: 'sqlite', file: path.join(dataDir, 'udns.db') },
    `SELECT f."path", f."size" FROM "IndexedFile" f JOIN "ListedShare" s ON s."id" = f."shareId" WHERE s."label" = '${label}'`);
  return new Map(rows.map((row) => [String(row[0]), Number(row[1])]));
}

/** Stored files of a share whose SHA-256 the agent has sent (it hashes in the background and sends them as deltas). */
async function hashedFiles(label: string, dataDir = edge.dataDir): Promise<number> {
  const rows = await queryRows({ dialect: 'sqlite', file: path.join(dataDir, 'udns.db') },
    `SELECT count(*) FROM "IndexedFile" f JOIN "ListedShare" s ON s."id" = f."shareId" WHERE s."label" = '${label}' AND f."sha256" IS NOT NULL`);
  return Number(rows[0]![0]);
}

/** The edge's "share listed" log lines for `label`: how many entries the agent had and buckets the edge wanted. */
function listings(label: string, logs = edge.logs()): Array<{ entries: number; wanted: number }> {
  return logs.split('\n').filter((line) => line.includes('"share listed"') && line.includes(`"name":"${label}"`))
    .map((line) => JSON.parse(line) as { entries: number; wanted: number });
}

/** Waits until the share is listed with `files` files, all hashed (the agent has nothing more to send). */
async function listed(label: string, files: number, online = true): Promise<void> {
  await eventually(`${label} listed ${online ? 'online' : 'offline'} with ${files} files, hashed`, async () => {
    const share = await index.getShare(label);
    return share?.online === online && share.entries === files && (await storedFiles(label)).size === files && (await hashedFiles(label)) === files ? true : undefined;
  }, { timeoutMs: 30_000 });
}

async function gone(label: string): Promise<void> {
  await eventually(`${label} gone from the index`, async () => ((await index.getShare(label)) === null ? true : undefined), { timeoutMs: 30_000 });
  expect((await storedFiles(label)).size).toBe(0);
}

describe('udns share --list with a real agent', () => {
  test('listing, a delta, SIGKILL -> offline, restart -> online with only the changed bucket, Ctrl-C -> removed', async () => {
    const root = folder();
    const agent = await AgentProcess.start(['share', root, '--list', '--name', 'listed-docs', ...flags], {});
    try {
      await listed('listed-docs', FILES);
      expect(listings('listed-docs')).toEqual([expect.objectContaining({ entries: FILES })]);
      expect((await storedFiles('listed-docs')).get('/2024_연말보고서_최종.hwp')).toBe(4);

      // A changed file reaches the edge as a delta.
      fs.writeFileSync(path.join(root, 'reports', 'report-7.txt'), 'a much longer report now\n');
      await eventually('the delta', async () => ((await storedFiles('listed-docs')).get('/reports/report-7.txt') === 25 ? true : undefined), { timeoutMs: 30_000 });
      // …and its new SHA-256 once the agent has hashed it again.
      await listed('listed-docs', FILES);

      // The PC dies: listed, marked offline, files kept.
      await agent.kill();
      await listed('listed-docs', FILES, false);

      // Changed while it was down, then back: only that file's bucket is asked for.
      fs.writeFileSync(path.join(root, 'reports', 'report-8.txt'), 'changed while offline\n');
      await agent.startAgain();
      await listed('listed-docs', FILES, true);
      await eventually('the second listing', () => (listings('listed-docs').length === 2 ? true : undefined));
      expect(listings('listed-docs')[1]).toMatchObject({ entries: FILES, wanted: 1 });
      await eventually('the change made offline', async () => ((await storedFiles('listed-docs')).get('/reports/report-8.txt') === 22 ? true : undefined));

      // Ctrl-C: the share stops cleanly and leaves the index.
      agent.signal('SIGINT');
      await agent.cli.exited;
      await gone('listed-docs');
    } finally {
      await agent.stop();
    }
  }, 120_000);

  test('udns name release removes the listed share', async () => {
    const agent = await AgentProcess.start(['share', folder(), '--list', '--name', 'released-docs', ...flags], {});
    try {
      await listed('released-docs', FILES);
      const released = await runCli(['name', 'release', 'released-docs', ...flags]);
      expect(released.code).toBe(0);
      await gone('released-docs');
    } finally {
      await agent.stop();
    }
  }, 60_000);

  test('regression: a listing agent spawned by the tests keeps its SHA-256 cache in the test\'s XDG_CACHE_HOME, not in ~/.cache/udns', async () => {
    // A HOME of its own: the ~/.cache fallback, if taken, lands where this test can see it.
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-home-'));
    folders.push(home);
    const agent = await AgentProcess.start(['share', folder(), '--list', '--name', 'cached-docs', ...flags], { HOME: home });
    try {
      await listed('cached-docs', FILES);
      expect(fs.existsSync(path.join(home, '.cache'))).toBe(false);
      expect(fs.existsSync(path.join(testCacheHome(), 'udns', 'file-hashes.sqlite'))).toBe(true);
    } finally {
      await agent.stop();
    }
  }, 60_000);

  test('an --expires share leaves the index when it expires', async () => {
    const agent = await AgentProcess.start(['share', folder(), '--list', '--expires', '8s', '--name', 'expiring-docs', ...flags], {});
    try {
      await listed('expiring-docs', FILES);
      expect((await index.getShare('expiring-docs'))?.expiresAt).toBeGreaterThan(Date.now());
      await gone('expiring-docs');
    } finally {
      await agent.stop();
    }
  }, 60_000);
});

describe('an edge restart', () => {
  let edgeProcess: EdgeProcess | undefined;
  const agents: AgentProcess[] = [];
  afterAll(async () => {
    for (const agent of agents) await agent.stop();
    await edgeProcess?.stop();
  });

  test('marks every share offline at start: a share whose agent died meanwhile stays offline, a live agent lists again without resending', async () => {
    edgeProcess = await startEdgeProcess(['--log-level', 'info']);
    const dataDir = edgeProcess.dataDir;
    const processFlags = ['--server', edgeProcess.serverUrl, '--token-file', writeTokenFile(edgeProcess.adminToken)];
    const steady = await AgentProcess.start(['share', folder(), '--list', '--name', 'steady-docs', ...processFlags], {});
    const lost = await AgentProcess.start(['share', folder(), '--list', '--name', 'lost-docs', ...processFlags], {});
    agents.push(steady, lost);
    const restartStore = await openAccountStore({ dataDir });
    try {
      const restartIndex = createSearchIndex(restartStore);
      const state = async (label: string) => {
        const share = await restartIndex.getShare(label);
        return share === null ? null : `${share.online ? 'online' : 'offline'} ${share.entries} ${await hashedFiles(label, dataDir)}`;
      };
      await eventually('both listed', async () => ((await state('steady-docs')) === `online ${FILES} ${FILES}` && (await state('lost-docs')) === `online ${FILES} ${FILES}` ? true : undefined), { timeoutMs: 30_000 });

      // The edge dies, and so does one PC while it is down: the database still says online.
      edgeProcess.cli.child.kill('SIGKILL');
      await edgeProcess.cli.exited;
      await lost.kill();
      expect(await state('lost-docs')).toBe(`online ${FILES} ${FILES}`);

      edgeProcess = await restartEdgeProcess(edgeProcess, ['--log-level', 'info']);
      const restarted = edgeProcess;
      await eventually('the live agent listed again', () => (listings('steady-docs', restarted.cli.stderr()).length === 1 ? true : undefined), { timeoutMs: 45_000 });
      expect(listings('steady-docs', restarted.cli.stderr())[0]).toMatchObject({ entries: FILES, wanted: 0 });
      await eventually('steady online', async () => ((await state('steady-docs')) === `online ${FILES} ${FILES}` ? true : undefined));
      expect(await state('lost-docs')).toBe(`offline ${FILES} ${FILES}`);
    } finally {
      await restartStore.close();
    }
  }, 120_000);
});
