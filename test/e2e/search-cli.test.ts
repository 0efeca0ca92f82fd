import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import type { SearchResponse } from '../../protocol/search-api.js';
import { entry, seedSearchIndex, type SearchSeed } from '../helpers/search-seed.js';
import { expectCleanFailure, runCli, startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

const DAY = 24 * 3600_000;
const HWP = '2024_연말보고서_최종.hwp';

/* `udns search` as a process (dist/: run `npx tsc -p tsconfig.build.json` first) against the real edge. */
describe('udns search', () => {
  let edge: TestEdge;
  let agent: Agent;
  let data: SearchSeed;
  let folder: string;
  let env: NodeJS.ProcessEnv;
  const content = crypto.randomBytes(200_000);

  beforeAll(async () => {
    edge = await startTestEdge();
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-search-cli-'));
    fs.mkdirSync(path.join(folder, 'share', '보고'), { recursive: true });
    fs.writeFileSync(path.join(folder, 'share', '보고', HWP), content);
    const aliceToken = await edge.createAccount('alice');
    // The share is served by a real agent under the name the index lists it by.
    agent = await startTestAgent(edge, [{ kind: 'share', dir: path.join(folder, 'share'), name: 'alice-docs' }], { token: aliceToken });
    const stat = fs.statSync(path.join(folder, 'share', '보고', HWP));
    const sha = crypto.createHash('sha256').update(content).digest('hex');
    data = await seedSearchIndex(edge, [
      { owner: 'alice', label: 'alice-docs', files: [entry(`/보고/${HWP}`, stat.size, Math.floor(stat.mtimeMs), 'application/x-hwp', sha)] },
      { owner: 'bob', label: 'bob-vault', locked: true, files: [entry('/old 보고서.pdf', 5 * 1024 ** 3, Date.now() - 400 * DAY, 'application/pdf')] },
      { owner: 'carol', label: 'carol-pc', online: false, files: [entry('/보고서 초안.txt', 900, Date.now() - DAY, 'text/plain')] },
    ], new Map([['alice', aliceToken]]));
    env = { UDNS_CONFIG: path.join(folder, 'cli.json') };
    expect((await runCli(['login', aliceToken, '--server', edge.serverUrl], env)).code).toBe(0);
  });
  afterAll(async () => {
    agent?.stop();
    await data?.close();
    await edge?.close();
    if (folder) fs.rmSync(folder, { recursive: true, force: true });
  });

  test('ranked results a terminal can read: name, share:folder, size, owner, online and path, lock, URL', async () => {
    const result = await runCli(['search', '보고서'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const port = edge.edge.httpPort;
    const lines = result.stdout.trimEnd().split('\n');
    const alice = lines.findIndex((line) => line.endsWith(` ${HWP}`));
    expect(lines[alice]).toMatch(/^\d\. /);
    // Direct once the edge has found the agent's transfer port reachable (it is, on loopback), else push/relay.
    expect(lines[alice + 1]).toMatch(/^ {3}alice-docs:\/보고\/ · 195 KB · \d{4}-\d\d-\d\d · alice · online, via (direct|push\/relay)$/);
    expect(lines[alice + 2]).toBe(`   http://alice-docs.localhost:${port}/${encodeURIComponent('보고')}/${encodeURIComponent(HWP)}`);
    const bob = lines.findIndex((line) => line.includes('old 보고서.pdf'));
    expect(lines[bob]).toMatch(/old 보고서\.pdf {2}\[password\]$/);
    expect(lines[bob + 1]).toContain('5.0 GB');
    const carol = lines.findIndex((line) => line.includes('보고서 초안.txt'));
    expect(lines[carol + 1]).toMatch(/carol · offline$/);
    // Online members first: carol's newer file comes after bob's older one.
    expect(bob).toBeLessThan(carol);
    expect(lines.at(-1)).toBe('1-3 of 3 for "보고서"');
  });

  test('--json: the API answer as it is; the filters reach the edge', async () => {
    const result = await runCli(['search', '보고서', '--type', 'pdf', '--min-size', '1G', '--json'], env);
    expect(result.code).toBe(0);
    const answer = JSON.parse(result.stdout) as SearchResponse;
    expect(answer).toMatchObject({ words: ['보고서'], total: 1, limit: 20, offset: 0, offlineHidden: false });
    expect(answer.hits).toEqual([expect.objectContaining({ name: 'old 보고서.pdf', owner: 'bob', locked: true, online: true, via: 'push/relay', size: 5 * 1024 ** 3 })]);
    const owner = JSON.parse((await runCli(['search', '보고서', '--owner', 'carol', '--json'], env)).stdout) as SearchResponse;
    expect(owner.hits.map((hit) => hit.owner)).toEqual(['carol']);
    const paged = await runCli(['search', '보고서', '--limit', '1'], env);
    expect(paged.stdout.trimEnd().split('\n').at(-1)).toBe('1-1 of 3 for "보고서": --offset 1 for the next 1');
  });

  test('no results: a message and exit 0', async () => {
    const result = await runCli(['search', 'nothing-like-this'], env);
    expect(result).toEqual({ code: 0, stdout: 'no results for "nothing-like-this"\n', stderr: '' });
    expect(JSON.parse((await runCli(['search', 'nothing-like-this', '--json'], env)).stdout)).toMatchObject({ hits: [], total: 0 });
  });

  test('bad input: one line on stderr and a non-zero exit, from the CLI or from the edge', async () => {
    expectCleanFailure(await runCli(['search', 'x', '--limit', '500'], env), /--limit must be a whole number from 1 to 100/, 2);
    expectCleanFailure(await runCli(['search', 'x', '--type', 'movie'], env), /use one of pdf, document/, 2);
    expectCleanFailure(await runCli(['search', 'x', '--min-size', 'huge'], env), /use bytes or a size such as 500k/, 2);
    expectCleanFailure(await runCli(['search', 'x'.repeat(300)], env), /q is longer than 256 characters/, 2);
    expectCleanFailure(await runCli(['search', 'a', '--min-size', '2G', '--max-size', '1G'], env), /minSize is larger than maxSize/, 2);
  });

  test('without a login: members-only edges say to log in; --search public answers; off says so', async () => {
    const anonymous = { UDNS_CONFIG: path.join(folder, 'nobody.json') };
    expectCleanFailure(await runCli(['search', '보고서', '--server', edge.serverUrl], anonymous), /members search only: run `udns login` first/, 1);
    edge.edge.applyConfig({ ...edge.edge.config, search: 'public' });
    try {
      const result = await runCli(['search', '보고서', '--server', edge.serverUrl, '--json'], anonymous);
      expect(result.code).toBe(0);
      expect((JSON.parse(result.stdout) as SearchResponse).total).toBe(3);
      edge.edge.applyConfig({ ...edge.edge.config, search: 'off' });
      expectCleanFailure(await runCli(['search', '보고서'], env), /search is turned off on this edge/, 1);
    } finally {
      edge.edge.applyConfig({ ...edge.edge.config, search: 'members' });
    }
  });

  test('udns get takes a result\'s URL and saves the verified file', async () => {
    const answer = JSON.parse((await runCli(['search', '연말보고서', '--json'], env)).stdout) as SearchResponse;
    const url = answer.hits[0]!.url;
    const out = path.join(folder, 'downloads');
    fs.mkdirSync(out);
    // As a visitor with no login: the URL alone is enough, through the edge as for any share.
    const result = await runCli(['get', url, '-o', `${out}/`, '--no-progress'], { UDNS_CONFIG: path.join(folder, 'nobody.json') });
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.code).toBe(0);
    expect(fs.readFileSync(path.join(out, HWP)).equals(content)).toBe(true);
  });
});
