import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SearchResponse } from '../../protocol/search-api.js';
import { storeDatabase } from '../../server/accounts/account-store.js';
import { openCreditBook } from '../../server/ledger/credit-book.js';
import { openLedgerLog, type LedgerLog } from '../../server/ledger/ledger-log.js';
import type { TrustAnswer } from '../../server/trust/trust-api.js';
import { eventually } from '../helpers/eventually.js';
import { entry, seedSearchIndex, type SearchSeed } from '../helpers/search-seed.js';
import { expectCleanFailure, runCli } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

/*
 * Ratings and trust end to end: a paid file listed on the real edge (written through the
 * SearchIndex the index sync applies), a completed purchase in the books, `udns rate` as a
 * process, and the seller's trust in `udns search`, the trust API and the member page.
 * dist/: run `npx tsc -p tsconfig.build.json` first.
 */
describe('udns rate and trust in search', () => {
  let edge: TestEdge;
  let seed: SearchSeed;
  let ledger: LedgerLog;
  let folder: string;
  let env: NodeJS.ProcessEnv;
  let bobToken: string;
  let saleId: string;

  beforeAll(async () => {
    edge = await startTestEdge();
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-trust-cli-'));
    bobToken = await edge.createAccount('bob');
    seed = await seedSearchIndex(edge, [{
      owner: 'alice', label: 'alice-talks', files: [
        entry('/keynote.pdf', 4_000_000, Date.now() - 3600_000, 'application/pdf', 'a'.repeat(64)),
        entry('/keynote-notes.txt', 900, Date.now() - 3600_000, 'text/plain'),
      ],
    }]);
    // The price and Merkle root come with the entry as the seller's agent syncs it.
    const paid = { ...entry('/keynote.pdf', 4_000_000, Date.now() - 3600_000, 'application/pdf', 'a'.repeat(64)), price: 50, merkleRoot: 'b'.repeat(64) };
    expect(await seed.index.applyBatch('alice-talks', { reset: [], upserts: [paid], removes: [] }, { entriesPerShare: 100, entriesPerAccount: 100 })).toMatchObject({ ok: true });

    // bob was granted credits by the operator and bought the keynote (a settled sale as the escrow leaves it).
    const db = storeDatabase(seed.store);
    ledger = await openLedgerLog(seed.store, { dataDir: edge.dataDir, logger: pino({ level: 'silent' }) });
    const bob = (await seed.store.authenticate(bobToken))!.id;
    const alice = (await db.prisma.account.findUnique({ where: { name: 'alice' } }))!.id;
    await openCreditBook(seed.store, ledger).move({ actor: 'operator', idempotencyKey: 'grant-bob-1', kind: 'grant', from: 'issuance', to: { member: bob }, amount: 1000 });
    saleId = crypto.randomBytes(16).toString('hex');
    const now = new Date();
    await db.prisma.sale.create({
      data: {
        id: saleId, buyerId: bob, sellerId: alice, buyerKey: 'bob-key-1', share: 'alice-talks', path: '/keynote.pdf', price: 50n, size: 4_000_000n,
        plainSha256: 'a'.repeat(64), plainRoot: 'b'.repeat(64), state: 'settled', deadline: 0n, createdAt: now, updatedAt: now,
      },
    });
    env = { UDNS_CONFIG: path.join(folder, 'cli.json'), XDG_CONFIG_HOME: path.join(folder, 'config'), XDG_STATE_HOME: path.join(folder, 'state') };
    expect((await runCli(['login', bobToken, '--server', edge.serverUrl], env)).code).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await ledger?.close();
    await seed?.close();
    await edge?.close();
    if (folder) fs.rmSync(folder, { recursive: true, force: true });
  });

  test('before any rating: the paid file shows its price and "no ratings yet"; the free one neither', async () => {
    const result = await runCli(['search', 'keynote'], env);
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    const paid = lines.findIndex((line) => line.endsWith('keynote.pdf  [50 credits]'));
    expect(paid).toBeGreaterThanOrEqual(0);
    expect(lines[paid + 1]).toContain(' · alice (no ratings yet) · ');
    const free = lines.findIndex((line) => line.endsWith(' keynote-notes.txt'));
    expect(lines[free + 1]).toMatch(/ · alice · offline$|· alice · online/);
  });

  test('the buyer rates once; search, the trust API and the member page show the seller\'s score', async () => {
    const rated = await runCli(['rate', saleId, '5', 'clear', 'slides,', 'fast'], env);
    expect(rated.stderr).toBe('');
    expect(rated).toMatchObject({ code: 0, stdout: `rated alice 5/5 for sale ${saleId}: "clear slides, fast"\n` });
    // The same rating again (a retry) is answered with the stored one; another is refused.
    expect((await runCli(['rate', saleId, '5', 'clear', 'slides,', 'fast'], env)).stdout).toBe(`already rated alice 5/5 for sale ${saleId}: "clear slides, fast"\n`);
    expectCleanFailure(await runCli(['rate', saleId, '1'], env), /already rated \(5\/5\): a purchase is rated once/, 1);

    // The refresh runs after each rating: bob's voice (granted credits) counts fully, (3·5 + 5) / 6.
    const hit = await eventually('the trust score in search', async () => {
      const answer = JSON.parse((await runCli(['search', 'keynote.pdf', '--json'], env)).stdout) as SearchResponse;
      const found = answer.hits.find((h) => h.path === '/keynote.pdf');
      return found?.trust.score === null ? undefined : found;
    }, { timeoutMs: 20_000, intervalMs: 200 });
    expect(hit).toMatchObject({ price: 50, owner: 'alice', trust: { score: 3.3, ratings: 1, disputesLost: 0 } });
    const text = (await runCli(['search', 'keynote'], env)).stdout;
    expect(text).toContain(' · alice (trust 3.3/5 (1 rating)) · ');

    const api = await fetch(`${edge.serverUrl}/api/v1/trust/alice`, { headers: { authorization: `Bearer ${bobToken}` } });
    expect(api.status).toBe(200);
    expect(await api.json() as TrustAnswer).toEqual({
      account: 'alice', trust: { score: 3.3, ratings: 1, disputesLost: 0 },
      recent: [{ rater: 'bob', score: 5, comment: 'clear slides, fast', createdAt: expect.any(String) }],
    });
    expect((await fetch(`${edge.serverUrl}/api/v1/trust/nobody`, { headers: { authorization: `Bearer ${bobToken}` } })).status).toBe(404);

    // The member page: for members on a members-only edge (the search page's cookie), public with --search public.
    expect((await fetch(`${edge.serverUrl}/members/alice`)).status).toBe(401);
    const page = await fetch(`${edge.serverUrl}/members/alice`, { headers: { cookie: `udns_search=${bobToken}` } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'none'");
    const html = await page.text();
    expect(html).toContain('<div class="score" id="score">3.3<span class="muted"> / 5</span></div>');
    expect(html).toContain('clear slides, fast');
    expect(html).toContain('alice-talks</a>');
    expect((await fetch(`${edge.serverUrl}/members/nobody`, { headers: { cookie: `udns_search=${bobToken}` } })).status).toBe(404);
    edge.edge.applyConfig({ ...edge.edge.config, search: 'public' });
    try {
      expect((await fetch(`${edge.serverUrl}/members/alice`)).status).toBe(200);
    } finally {
      edge.edge.applyConfig({ ...edge.edge.config, search: 'members' });
    }
  });

  test('only the buyer rates; bad input is one line on stderr before anything is sent', async () => {
    const aliceEnv = { ...env, UDNS_CONFIG: path.join(folder, 'alice.json') };
    expect((await runCli(['login', seed.tokens.get('alice')!, '--server', edge.serverUrl], aliceEnv)).code).toBe(0);
    expectCleanFailure(await runCli(['rate', saleId, '5'], aliceEnv), /only the buyer of sale [0-9a-f]{32} may rate it/, 1);
    expectCleanFailure(await runCli(['rate', 'f'.repeat(32), '4'], env), /no sale f{32}/, 1);
    expectCleanFailure(await runCli(['rate', saleId, '6'], env), /the score must be a whole number from 1 to 5/, 2);
    expectCleanFailure(await runCli(['rate', 'not-a-sale', '4'], env), /is neither a sale id .* nor a file udns get bought/);
    expectCleanFailure(await runCli(['rate', saleId, '4', 'x'.repeat(501)], env), /more than 500/);
  });
});
