import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startAgent, type Agent } from '../../agent/agent.js';
import { ensureSigningKey } from '../../cli/signing-key.js';
import { SaleView } from '../../protocol/index.js';
import type { SearchResponse } from '../../protocol/search-api.js';
import { openAccountStore } from '../../server/accounts/account-store.js';
import { apiCall } from '../helpers/edge-client.js';
import { eventually } from '../helpers/eventually.js';
import { runCli } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

const PRICE = 50;

/*
 * The whole way with nothing seeded: a seller agent lists a priced file, the buyer (granted
 * credits by the operator) buys it with `udns get --pay-up-to`, rates it with `udns rate`, and
 * `udns search` then shows the price and the seller's trust. dist/: run
 * `npx tsc -p tsconfig.build.json` first.
 */
describe('a purchase, its rating and the seller\'s trust in search', () => {
  let edge: TestEdge;
  let work: string;
  let agent: Agent;
  let fileUrl: string;
  let bobToken: string;
  const bobEnv = (): NodeJS.ProcessEnv => ({ UDNS_SERVER: edge.serverUrl, UDNS_TOKEN: bobToken, UDNS_CONFIG: path.join(work, 'bob.json') });

  beforeAll(async () => {
    edge = await startTestEdge();
    const store = await openAccountStore({ dataDir: edge.dataDir });
    let aliceToken: string;
    try {
      aliceToken = (await store.createAccount('alice')).token;
      bobToken = (await store.createAccount('bob')).token;
    } finally {
      await store.close();
    }
    expect((await apiCall(edge, edge.adminToken, 'POST', '/credits/grant', { to: 'bob', amount: 1000, idempotencyKey: 'bob-welcome' })).status).toBeLessThan(300);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-trust-purchase-'));
    const shared = path.join(work, 'talks');
    fs.mkdirSync(shared);
    fs.writeFileSync(path.join(shared, 'talk.pdf'), randomBytes(300_000));
    const { pair } = await ensureSigningKey({ UDNS_CONFIG: path.join(work, 'alice.json') }, { server: edge.serverUrl, token: aliceToken, trust: { insecure: false } });
    agent = await startAgent({
      serverUrl: edge.serverUrl, token: aliceToken, signingKey: pair,
      routes: [{ kind: 'share', dir: shared, name: 'alice-talks', list: true, prices: [{ glob: '*.pdf', price: PRICE }] }],
    });
    fileUrl = `${agent.routes[0]!.url}/talk.pdf`;
    await eventually('the paid file in the members\' index with its price', async () => {
      const hits = (await apiCall(edge, bobToken, 'GET', '/search?q=talk')).body.hits as Array<{ url: string; price: number | null }> | undefined;
      return hits?.some((hit) => hit.url === fileUrl && hit.price === PRICE) ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100 });
  }, 120_000);

  afterAll(async () => {
    agent?.stop();
    await edge?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('udns get buys, udns rate rates once, udns search shows the price and the new trust', async () => {
    const before = await runCli(['search', 'talk'], bobEnv());
    expect(before.stdout).toContain('talk.pdf  [50 credits]');
    expect(before.stdout).toContain(' · alice (no ratings yet) · ');

    const out = path.join(work, 'out', 'talk.pdf');
    const bought = await runCli(['get', fileUrl, '-o', out, '--no-progress', '--pay-up-to', String(PRICE), '--via', 'relay', '--json'], bobEnv());
    expect(bought.code, bought.stderr).toBe(0);
    const sale = SaleView.parse(JSON.parse(bought.stdout).sale);
    expect(sale).toMatchObject({ state: 'released', seller: 'alice', buyer: 'bob', price: PRICE });

    // The file udns get saved names its sale (through <file>.receipt.json).
    const rated = await runCli(['rate', out, '4', 'as', 'described'], bobEnv());
    expect(rated).toMatchObject({ code: 0, stdout: `rated alice 4/5 for sale ${sale.id}: "as described"\n` });
    // bob was granted credits: one full voice, (3·5 + 4) / 6 = 3.17.
    const hit = await eventually('the seller\'s trust in search', async () => {
      const answer = JSON.parse((await runCli(['search', 'talk', '--json'], bobEnv())).stdout) as SearchResponse;
      const found = answer.hits.find((h) => h.url === fileUrl);
      return found?.trust.score === null ? undefined : found;
    }, { timeoutMs: 20_000, intervalMs: 200 });
    expect(hit).toMatchObject({ price: PRICE, trust: { score: 3.2, ratings: 1, disputesLost: 0 } });
    expect((await runCli(['search', 'talk'], bobEnv())).stdout).toContain(' · alice (trust 3.2/5 (1 rating)) · ');

    // The rating is in the ledger: bob's own entries include it.
    const mine = await apiCall(edge, bobToken, 'GET', '/ledger/mine?limit=500');
    expect(mine.status).toBe(200);
    expect(JSON.stringify(mine.body)).toContain('\\"kind\\":\\"rating\\"');
  }, 120_000);
});
