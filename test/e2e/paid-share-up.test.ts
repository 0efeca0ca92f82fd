import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PaymentRequired } from '../../protocol/index.js';
import { eventually } from '../helpers/eventually.js';
import { queryRows } from '../helpers/test-databases.js';
import { spawnCli, type CliProcess } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { visit } from '../helpers/visitor.js';

/* `prices:` in a `udns up` file (dist/: run `npx tsc -p tsconfig.build.json` first), and edits of them applied live. */
describe('udns up with prices', () => {
  let edge: TestEdge;
  let dir: string;
  let cli: CliProcess | undefined;

  beforeAll(async () => {
    edge = await startTestEdge();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-paid-up-'));
    fs.mkdirSync(path.join(dir, 'share', 'talks'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'share', 'talks', 'keynote.pdf'), 'slides\n');
    fs.writeFileSync(path.join(dir, 'share', 'readme.txt'), 'read me\n');
  });
  afterAll(async () => {
    cli?.child.kill('SIGTERM');
    await edge?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function storedPrice(file: string): Promise<number | null | undefined> {
    const rows = await queryRows({ dialect: 'sqlite', file: path.join(edge.dataDir, 'udns.db') },
      `SELECT f."price" FROM "IndexedFile" f JOIN "ListedShare" s ON s."id" = f."shareId" WHERE s."label" = 'paid' AND f."path" = '${file}'`);
    return rows.length === 0 ? undefined : rows[0]![0] === null ? null : Number(rows[0]![0]);
  }

  async function priceOf(file: string): Promise<number | null> {
    const answer = await visit(edge, 'paid', file);
    return answer.status === 402 ? PaymentRequired.parse(JSON.parse(answer.body)).price : answer.status === 200 ? null : -answer.status;
  }

  test('prices from the file are applied, and an edit reprices the running share and its index entries in place', async () => {
    const config = path.join(dir, 'agent.yml');
    const write = (prices: string[]): void => fs.writeFileSync(config, [
      `server: ${edge.serverUrl}`, `token: ${edge.adminToken}`, 'routes:', `  - share: ${path.join(dir, 'share')}`, '    name: paid', '    list: true', ...prices, '',
    ].join('\n'), { mode: 0o600 });
    write(['    prices:', '      talks/*.pdf: 50']);
    cli = spawnCli(['up', '--config', config], { UDNS_CONFIG: path.join(dir, 'cli', 'config.json'), XDG_CACHE_HOME: path.join(dir, 'cache') });
    await cli.waitForOutput(/paid.* -> /, 30_000);
    expect(await priceOf('/talks/keynote.pdf')).toBe(50);
    expect(await priceOf('/readme.txt')).toBeNull();
    await eventually('the priced entry at the edge', async () => ((await storedPrice('/talks/keynote.pdf')) === 50 ? true : undefined), { timeoutMs: 20_000, intervalMs: 200 });

    write(['    prices:', '      talks/*.pdf: 70', '      "*.txt": 5']);
    await cli.waitForOutput(/prices changed: /, 30_000);
    expect(await priceOf('/talks/keynote.pdf')).toBe(70);
    expect(await priceOf('/readme.txt')).toBe(5);
    // Before the fix in index-sync-client.ts, this edit reached the edge only when no flush had
    // fallen due during the first sync (so it failed under load).
    await eventually('the new prices at the edge', async () => ((await storedPrice('/talks/keynote.pdf')) === 70 && (await storedPrice('/readme.txt')) === 5 ? true : undefined), { timeoutMs: 20_000, intervalMs: 200 });
    // The share kept running: no route was replaced.
    expect(cli.stdout()).not.toContain('removed:');

    // A bad edit changes nothing and says why.
    write(['    prices:', '      talks/*.pdf: 0']);
    await eventually('the bad edit reported', async () => (/not reloaded.*from 1 to/.test(cli!.stderr()) ? true : undefined));
    expect(await priceOf('/talks/keynote.pdf')).toBe(70);

    // Prices gone: the files are free again, at the edge too.
    write([]);
    await eventually('the second repricing', async () => ((cli!.stdout().match(/prices changed: /g) ?? []).length === 2 ? true : undefined));
    expect(await priceOf('/talks/keynote.pdf')).toBeNull();
    await eventually('free again at the edge', async () => ((await storedPrice('/talks/keynote.pdf')) === null ? true : undefined), { timeoutMs: 20_000, intervalMs: 200 });
  }, 120_000);
});
