import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SearchResponse } from '../../protocol/search-api.js';
import { eventually } from '../helpers/eventually.js';
import { runCli, spawnCli, type CliProcess } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { writeTokenFile } from '../helpers/token-file.js';

const HWP = '2024_연말보고서_최종.hwp';

/*
 * The whole way, with nothing seeded: `udns share DIR --list` (a process) publishes its index,
 * another member finds the file with `udns search` and fetches it with `udns get`; a file added
 * later shows up, and stopping the share takes it out of the results.
 */
describe('udns share --list, then udns search and udns get by another member', () => {
  let edge: TestEdge;
  let folder: string;
  let share: CliProcess | undefined;
  let bobEnv: NodeJS.ProcessEnv;
  let bobToken: string;
  const content = crypto.randomBytes(300_000);

  async function search(words: string): Promise<SearchResponse> {
    const answer = await fetch(`${edge.serverUrl}/api/v1/search?q=${encodeURIComponent(words)}`, { headers: { authorization: `Bearer ${bobToken}` } });
    expect(answer.status).toBe(200);
    return answer.json() as Promise<SearchResponse>;
  }

  beforeAll(async () => {
    edge = await startTestEdge();
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-search-listed-'));
    fs.mkdirSync(path.join(folder, 'share', '보고'), { recursive: true });
    fs.writeFileSync(path.join(folder, 'share', '보고', HWP), content);
    fs.writeFileSync(path.join(folder, 'share', '.hidden-report.txt'), 'not for visitors\n');
    const aliceToken = await edge.createAccount('alice');
    bobToken = await edge.createAccount('bob');
    bobEnv = { UDNS_CONFIG: path.join(folder, 'bob.json') };
    expect((await runCli(['login', bobToken, '--server', edge.serverUrl], bobEnv)).code).toBe(0);
    share = spawnCli(['share', path.join(folder, 'share'), '--name', 'alice-docs', '--list', '--server', edge.serverUrl, '--token-file', writeTokenFile(aliceToken)], { XDG_CACHE_HOME: path.join(folder, 'cache') });
    await share.waitForOutput(/ -> /);
  });
  afterAll(async () => {
    share?.child.kill('SIGTERM');
    await edge?.close();
    if (folder) fs.rmSync(folder, { recursive: true, force: true });
  });

  test('the listed file is found by a part of its Korean name, with its SHA-256 once hashed, and udns get fetches it', async () => {
    const sha = crypto.createHash('sha256').update(content).digest('hex');
    const hit = await eventually('the hashed file in the results', async () => (await search('보고서')).hits.find((found) => found.sha256 === sha), { timeoutMs: 20_000, intervalMs: 200 });
    expect(hit).toMatchObject({ name: HWP, folder: '/보고/', owner: 'alice', share: 'alice-docs', online: true, locked: false, size: content.length });
    // What a visitor could not see is not listed either.
    expect((await search('hidden-report')).hits).toEqual([]);

    const text = await runCli(['search', '연말'], bobEnv);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(hit.url);

    const out = path.join(folder, 'bob-downloads');
    fs.mkdirSync(out);
    const got = await runCli(['get', hit.url, '-o', `${out}/`, '--no-progress'], bobEnv);
    expect(got.code, got.stderr).toBe(0);
    expect(fs.readFileSync(path.join(out, HWP)).equals(content)).toBe(true);
  });

  test('a file added to the folder shows up; stopping the share takes its files out', async () => {
    fs.writeFileSync(path.join(folder, 'share', '보고', 'new quarterly report.pdf'), 'pdf bytes\n');
    await eventually('the new file in the results', async () => ((await search('quarterly')).hits.length === 1 ? true : undefined), { timeoutMs: 30_000, intervalMs: 250 });
    share!.child.kill('SIGINT');
    await share!.exited;
    await eventually('the stopped share out of the results', async () => ((await search('보고서')).total === 0 ? true : undefined), { timeoutMs: 15_000, intervalMs: 200 });
  });
});
