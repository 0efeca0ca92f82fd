import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startAgent, type Agent } from '../../agent/agent.js';
import { ensureSigningKey } from '../../cli/signing-key.js';
import { apiCall } from '../helpers/edge-client.js';
import { eventually } from '../helpers/eventually.js';
import { runCli } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

/*
 * `udns get -r` of a folder whose share sells some files (dist/: run `npx tsc -p
 * tsconfig.build.json` first): a real edge, a real seller agent with `--list --price`, the real
 * CLI as the buyer. Without --pay-up-to every free file arrives and each priced one is skipped
 * with one line naming its price and the command that buys it (exit 0: nothing free is missing);
 * with --pay-up-to N the ones costing at most N are bought through the escrow (receipt beside
 * each), dearer ones skipped; a second run buys nothing twice.
 */
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('udns get -r of a folder with files for sale', () => {
  let edge: TestEdge;
  let agent: Agent;
  let work: string;
  let folderUrl: string;
  let bobToken: string;
  const cheap = randomBytes(300 * 1024);
  const dear = randomBytes(20 * 1024);
  const buyerEnv = (): NodeJS.ProcessEnv => ({ UDNS_SERVER: edge.serverUrl, UDNS_TOKEN: bobToken, UDNS_CONFIG: path.join(work, 'bob.json') });
  const balance = async (): Promise<number> => (await apiCall(edge, bobToken, 'GET', '/credits')).body.available as number;
  const salesOfBob = async (): Promise<number> => ((await apiCall(edge, bobToken, 'GET', '/purchases?role=bought')).body.sales as unknown[]).length;

  beforeAll(async () => {
    edge = await startTestEdge();
    const aliceToken = await edge.createAccount('alice');
    bobToken = await edge.createAccount('bob');
    expect((await apiCall(edge, edge.adminToken, 'POST', '/credits/grant', { to: 'bob', amount: 200, idempotencyKey: 'bob-welcome' })).status).toBe(200);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-folder-buy-'));
    const shared = path.join(work, 'share');
    fs.mkdirSync(path.join(shared, 'talks'), { recursive: true });
    fs.writeFileSync(path.join(shared, 'readme.txt'), 'free readme\n');
    fs.writeFileSync(path.join(shared, 'talks', 'a.pdf'), cheap);
    fs.writeFileSync(path.join(shared, 'talks', 'b.pdf'), dear);
    fs.writeFileSync(path.join(shared, 'talks', 'notes.txt'), 'free notes\n');
    const { pair } = await ensureSigningKey({ UDNS_CONFIG: path.join(work, 'alice.json') }, { server: edge.serverUrl, token: aliceToken, trust: { insecure: false } });
    agent = await startAgent({
      serverUrl: edge.serverUrl, token: aliceToken, signingKey: pair,
      routes: [{ kind: 'share', dir: shared, name: 'shop', list: true, prices: [{ glob: 'talks/a.pdf', price: 50 }, { glob: 'talks/b.pdf', price: 80 }] }],
    });
    folderUrl = `${agent.routes[0]!.url}/`;
    await eventually('both priced files in the members\' index with their prices', async () => {
      const hits = (await apiCall(edge, bobToken, 'GET', '/search?q=pdf')).body.hits as Array<{ price?: number | null }> | undefined;
      return hits?.filter((hit) => hit.price === 50 || hit.price === 80).length === 2 ? true : undefined;
    }, { timeoutMs: 20_000, intervalMs: 100 });
  }, 120_000);

  afterAll(async () => {
    agent?.stop();
    await edge?.close();
    if (work !== undefined) fs.rmSync(work, { recursive: true, force: true });
  });

  test('without --pay-up-to: every free file arrives, each priced file is skipped with one line, exit 0, nothing bought', async () => {
    const out = path.join(work, 'free-only', 'shop');
    const result = await runCli(['get', '-r', folderUrl, '-o', out, '--no-progress'], buyerEnv());
    expect(result.stderr).toContain(`udns: skipped shop/talks/a.pdf: priced at 50 credits; buy it with udns get ${folderUrl}talks/a.pdf\n`);
    expect(result.stderr).toContain(`udns: skipped shop/talks/b.pdf: priced at 80 credits; buy it with udns get ${folderUrl}talks/b.pdf\n`);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/saved .*shop\/ \(2 files, .*; 2 for sale skipped\)/);
    expect(fs.readFileSync(path.join(out, 'readme.txt'), 'utf8')).toBe('free readme\n');
    expect(fs.readFileSync(path.join(out, 'talks', 'notes.txt'), 'utf8')).toBe('free notes\n');
    expect(fs.readdirSync(path.join(out, 'talks')).sort()).toEqual(['notes.txt']);
    expect(await balance()).toBe(200);
    expect(await salesOfBob()).toBe(0);
  }, 120_000);

  test('with --pay-up-to 50: the 50-credit file is bought through the escrow with its receipt, the 80-credit one skipped; a rerun buys nothing twice', async () => {
    const out = path.join(work, 'buying', 'shop');
    const result = await runCli(['get', '-r', folderUrl, '-o', out, '--no-progress', '--pay-up-to', '50'], buyerEnv());
    expect(result.stderr).toContain(`udns: skipped shop/talks/b.pdf: priced at 80 credits, more than --pay-up-to 50; buy it with udns get ${folderUrl}talks/b.pdf\n`);
    expect(result.stdout).toMatch(/^bought shop\/talks\/a\.pdf for 50 credits from alice; receipt: shop\/talks\/a\.pdf\.receipt\.json \(sale [0-9a-f]{32}, ledger entry \d+\)$/m);
    expect(result.stdout).toMatch(/saved .*shop\/ \(2 files, .*; 1 bought, 1 for sale skipped\)/);
    expect(result.code).toBe(0);
    expect(sha256(fs.readFileSync(path.join(out, 'talks', 'a.pdf')))).toBe(sha256(cheap));
    expect(fs.readdirSync(path.join(out, 'talks')).sort()).toEqual(['a.pdf', 'a.pdf.receipt.json', 'notes.txt']);
    const verified = await runCli(['receipt', 'verify', path.join(out, 'talks', 'a.pdf.receipt.json')], buyerEnv());
    expect(verified.code).toBe(0);
    expect(await balance()).toBe(150);
    expect(await salesOfBob()).toBe(1);

    const again = await runCli(['get', '-r', folderUrl, '-o', out, '--no-progress', '--pay-up-to', '50'], buyerEnv());
    expect(again.code).toBe(0);
    expect(again.stdout).not.toMatch(/^bought/m);
    expect(await balance()).toBe(150);
    expect(await salesOfBob()).toBe(1);
  }, 180_000);
});
