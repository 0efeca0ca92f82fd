import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { openAccountStore, type AccountStore } from '../../server/accounts/account-store.js';
import type { SearchIndex } from '../../server/search/search-index.js';
import { createSearchIndex } from '../../server/search/sql-search-index.js';
import { eventually } from '../helpers/eventually.js';
import { queryRows } from '../helpers/test-databases.js';
import { spawnCli, type CliProcess } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { visit } from '../helpers/visitor.js';

/*
 * `list: true` in `udns up` files, against the real edge: a listed share arrives with every
 * file's SHA-256; an unlisted one sends nothing; one over the edge's per-share limit is refused
 * with one stderr line and still answers visitors; a share removed from the file by a live
 * reload leaves the index (unlistShare before unregisterRoute).
 */

let edge: TestEdge;
let store: AccountStore;
let index: SearchIndex;
let cli: CliProcess | undefined;
const dirs: string[] = [];

beforeAll(async () => {
  edge = await startTestEdge({ indexMaxEntriesPerShare: 20 });
  store = await openAccountStore({ dataDir: edge.dataDir });
  index = createSearchIndex(store);
});
afterAll(async () => {
  cli?.child.kill('SIGKILL');
  await store?.close();
  await edge?.close();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function folder(files: number): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-up-listed-'));
  dirs.push(root);
  for (let i = 0; i < files; i++) fs.writeFileSync(path.join(root, `file-${i}.txt`), `file ${i}\n`);
  fs.writeFileSync(path.join(root, '.hidden'), 'not for visitors\n');
  return root;
}

async function storedRows(label: string): Promise<Array<{ path: string; sha256: string | null }>> {
  const rows = await queryRows({ dialect: 'sqlite', file: path.join(edge.dataDir, 'udns.db') },
    `SELECT f."path", f."sha256" FROM "IndexedFile" f JOIN "ListedShare" s ON s."id" = f."shareId" WHERE s."label" = '${label}'`);
  return rows.map((row) => ({ path: String(row[0]), sha256: row[1] === null ? null : String(row[1]) }));
}

test('list: true in udns up: listed with digests, unlisted sends nothing, over the limit refused once, removed by a reload', async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-up-listed-config-'));
  dirs.push(work);
  const [listedDir, bigDir, privateDir] = [folder(12), folder(30), folder(3)];
  const config = path.join(work, 'agent.yml');
  const routes = (withListed: boolean): string[] => [
    `server: ${edge.serverUrl}`, `token: ${edge.adminToken}`, 'routes:',
    ...(withListed ? [`  - share: ${listedDir}`, '    name: up-listed', '    list: true'] : []),
    `  - share: ${bigDir}`, '    name: up-big', '    list: true',
    `  - share: ${privateDir}`, '    name: up-private',
  ];
  fs.writeFileSync(config, `${routes(true).join('\n')}\n`, { mode: 0o600 });
  cli = spawnCli(['up', '--config', config, '--log-level', 'info', '--log-format', 'json'], { XDG_CACHE_HOME: path.join(work, 'cache') });
  await cli.waitForOutput(/up-private.* -> /);

  await eventually('the listed share with every SHA-256', async () => {
    const rows = await storedRows('up-listed');
    return rows.length === 12 && rows.every((row) => /^[0-9a-f]{64}$/.test(row.sha256 ?? '')) ? rows : undefined;
  }, { timeoutMs: 30_000 });
  expect((await storedRows('up-listed')).some((row) => row.path === '/.hidden')).toBe(false);
  expect(cli.stderr()).toContain(`${fs.realpathSync(listedDir)}: 12 files listed in the members' search`);
  expect(fs.existsSync(path.join(work, 'cache', 'udns', 'file-hashes.sqlite'))).toBe(true);

  // Over the edge's limit of 20: one line on stderr, the share still answers.
  await eventually('the refusal on stderr', () => (cli!.stderr().includes(`${fs.realpathSync(bigDir)} is not listed in the members' search: a listed share may hold at most 20 files`) ? true : undefined), { timeoutMs: 30_000 });
  expect(await index.getShare('up-big')).toBeNull();
  expect((await visit(edge, 'up-big', '/file-1.txt')).status).toBe(200);

  // Never listed: nothing about it reached the edge's index.
  expect(await index.getShare('up-private')).toBeNull();
  expect(edge.logs().split('\n').some((line) => line.includes('"share listed"') && line.includes('up-private'))).toBe(false);

  // The listed share leaves the file: a live reload withdraws it and it leaves the index.
  fs.writeFileSync(config, `${routes(false).join('\n')}\n`, { mode: 0o600 });
  await eventually('the listed share gone', async () => ((await index.getShare('up-listed')) === null ? true : undefined), { timeoutMs: 30_000 });
  expect(await storedRows('up-listed')).toEqual([]);
  expect(cli.stderr().match(/is not listed in the members' search/g)).toHaveLength(1);
  expect(edge.logs()).not.toMatch(/protocol_violation/);
}, 90_000);
