import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { buyFile } from '../../cli/exchange/buy-file.js';
import { checkManifest, checkOffer } from '../../cli/exchange/offer-check.js';
import { purchases } from '../../cli/exchange/purchase-client.js';
import { purchaseFilesFor, writeSaleFile } from '../../cli/exchange/sale-file.js';
import { proofOf } from '../../cli/exchange/unseal.js';
import type { EdgeTarget } from '../../cli/client-config.js';
import type { DownloadProgress } from '../../cli/download/download-progress.js';
import type { MemberTransfers } from '../../cli/download/member-transfer.js';
import { requestShare } from '../../cli/download/share-http.js';
import type { TransferPaths } from '../../cli/download/transfer-paths.js';
import { ensureSigningKey } from '../../cli/signing-key.js';
import { isUdnsError, signStatement, type AcceptanceBody, type SaleView, type SigningKeyPair } from '../../protocol/index.js';
import { SEAL_TAG_BYTES, chunkCount, plainChunkLength } from '../../protocol/sealed-file.js';
import { openAccountStore } from '../../server/accounts/account-store.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { startEdgeProcess, type EdgeProcess } from '../helpers/edge-process.js';
import { eventually } from '../helpers/eventually.js';
import { SeededRandom } from '../helpers/seeded-random.js';
import { runCli } from '../helpers/test-agent.js';
import { findPostgresBinaries, queryRows, requirePostgresInCi, startPostgresBackend, type TestBackend } from '../helpers/test-databases.js';
import type { DatabaseTarget } from '../../server/accounts/database-target.js';
import { writeTokenFile } from '../helpers/token-file.js';

/*
 * Issue 11, "1,000 concurrent purchases with random failures, ending with the sum of all
 * balances unchanged and the ledger verifying": the real edge process (escrow, credits, ledger),
 * four real `udns share --list --price` seller processes, forty buyer accounts buying in this
 * process with the buyer library of `udns get` (cli/exchange/: buyFile and its pieces), fifty
 * at a time. Every purchase draws its fate from a seeded PRNG (seed printed; replay with
 * UDNS_TEST_SEED): honest (the whole exchange), the same request retried with its idempotency
 * key, abandoned once reserved (the sweeper refunds it), cancelled, too poor (refused, no
 * sale), a byte flipped in flight (cancelled, nothing paid), a buyer lying in a dispute
 * (rejected); and one seller agent is SIGKILLed and restarted mid-run. Then every sale ends
 * terminal, the wallets sum to 0, the members hold exactly what was granted, no sale is both
 * paid and refunded, each buyer's balance is its grant minus what it bought, `udns ledger audit`
 * passes beside the edge and `udns ledger verify` passes for a few buyers.
 */

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);

/**
 * `npm run test:chaos` (UDNS_THOUSAND_PURCHASES=1000) runs the full 1,000 on both databases
 * (SQLite: 98 s of purchases, 151 s in all). `npm test` runs the same mix smaller, 400 on
 * SQLite only, to keep the whole suite inside CI's 15 minutes on 2 cores. A smaller count asked
 * for on PostgreSQL (whose transactions under the one ledger lock cost about twice as much here)
 * defaults to 120.
 */
const PURCHASES_ON: Record<'sqlite' | 'postgresql', number> = {
  sqlite: Number(process.env.UDNS_THOUSAND_PURCHASES ?? 400),
  postgresql: Number(process.env.UDNS_THOUSAND_PURCHASES ?? 120),
};
/** Buyers at once: 50 on SQLite; 20 on PostgreSQL, whose transactions under the one ledger lock cost about twice as much here (50 queued past the CLI's 10 s timeout in a loaded suite). */
const CONCURRENCY_ON: Record<'sqlite' | 'postgresql', number> = {
  sqlite: Number(process.env.UDNS_THOUSAND_CONCURRENCY ?? 50),
  postgresql: Number(process.env.UDNS_THOUSAND_CONCURRENCY ?? 20),
};
const SELLERS = 4;
const FILES_PER_SELLER = 5;
const RICH_BUYERS = 36;
const POOR_BUYERS = 4;
const RICH_GRANT = 5000;
const POOR_GRANT = 3;
// Generous against a loaded machine (a buyer starved of CPU must not see its sale time out: 30 s
// from the reservation to the acceptance of at most 2 MiB); abandoned sales are drawn in the first
// half of the run only, so their refunds come before its end. The run ends by waiting out the
// last dispute window: a liar disputes right after its acceptance, well inside 8 s.
const SALE_TIMEOUT = '30s';
const DISPUTE_WINDOW = '8s';

type Fate = 'honest' | 'retried' | 'abandon' | 'cancel' | 'poor' | 'corrupt' | 'liar';
const FATES: Array<[Fate, number]> = [['honest', 0.62], ['retried', 0.1], ['abandon', 0.06], ['cancel', 0.06], ['poor', 0.05], ['corrupt', 0.05], ['liar', 0.06]];

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const silent: DownloadProgress = { start() {}, update() {}, note() {}, finish() {}, stop() {} };
const retry = { retries: 40, delayMs: () => 150 };

interface PaidFile { seller: number; name: string; price: number; sha256: string; url: string }
interface Buyer { name: string; token: string; edge: EdgeTarget; env: NodeJS.ProcessEnv; pair: SigningKeyPair; granted: number }
interface Outcome { reruns?: number; index: number; fate: Fate; buyer: string; file: PaidFile; saleId?: string; ok: boolean; detail: string; startedAt: number; endedAt: number }

/**
 * A TCP proxy in front of the edge's HTTP port that flips the first body byte of every answer
 * on each connection (the first byte after the header block): a sealed download through it
 * fails its first chunk.
 */
async function flippingProxy(target: number): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => undefined);
    const upstream = net.connect(target, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    let head = Buffer.alloc(0);
    let inBody = false;
    let flipped = false;
    upstream.on('data', (chunk: Buffer) => {
      if (!flipped) {
        let at = -1;
        if (inBody) {
          at = 0;
        } else {
          const seen = Buffer.concat([head, chunk]);
          const end = seen.indexOf('\r\n\r\n');
          if (end < 0) head = seen.subarray(Math.max(0, seen.length - 3));
          else if (end + 4 - head.length < chunk.length) at = end + 4 - head.length;
          else inBody = true;
        }
        if (at >= 0 && chunk.length > 0) {
          chunk = Buffer.from(chunk);
          chunk[at]! ^= 0x40;
          flipped = true;
        }
      }
      client.write(chunk);
    });
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** Transfer paths that send the sealed download through the flipping proxy (the manifest goes straight). */
function tamperedTransfers(proxyPort: number): MemberTransfers {
  const agent = new http.Agent({ keepAlive: false });
  (agent as unknown as { createConnection: () => net.Socket }).createConnection = () => net.connect(proxyPort, '127.0.0.1');
  return {
    forFile: () => ({ dispatcher: async () => agent, taken: ['relay'], close: () => agent.destroy() }) as unknown as TransferPaths,
    close: () => agent.destroy(),
  };
}

/** A share's answer through the edge (relay), as the CLI reaches `*.localhost` names. */
async function fetchBytes(url: URL): Promise<Buffer> {
  const res = await requestShare(url, { trust: { insecure: false } });
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  if (res.statusCode !== 200) throw new Error(`${url.href} answered ${res.statusCode}`);
  return Buffer.concat(chunks);
}

/** Runs `work` over `items` with at most `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/**
 * PostgreSQL only when the count is asked for (npm run test:chaos): `npm test` ran 120 there in
 * 97 s, most of it waiting out the sale timeout, and the suite must fit CI's 15 minutes. The
 * escrow's PostgreSQL paths run in npm test through escrow.test.ts (concurrent purchases, two
 * edges), exchange-purchase (relay) and exchange-crash (before-commit points).
 */
const DIALECTS = dialectsAsked(process.env.UDNS_THOUSAND_DIALECTS) ?? (pgBin === null || process.env.UDNS_THOUSAND_PURCHASES === undefined ? (['sqlite'] as const) : (['sqlite', 'postgresql'] as const));

/** UDNS_THOUSAND_DIALECTS=postgresql (or sqlite, or both comma-separated) runs only those. */
function dialectsAsked(value: string | undefined): ReadonlyArray<'sqlite' | 'postgresql'> | undefined {
  if (value === undefined || value === '') return undefined;
  const asked = value.split(',').map((name) => name.trim());
  for (const name of asked) {
    if (name !== 'sqlite' && name !== 'postgresql') throw new Error(`UDNS_THOUSAND_DIALECTS: ${name} is neither sqlite nor postgresql`);
    if (name === 'postgresql' && pgBin === null) throw new Error('UDNS_THOUSAND_DIALECTS asks for postgresql, but no PostgreSQL binaries are installed: run npm run test:setup');
  }
  return asked as Array<'sqlite' | 'postgresql'>;
}

describe.each(DIALECTS)('concurrent purchases with random failures, on %s', (dialect) => {
  const PURCHASES = PURCHASES_ON[dialect];
  const CONCURRENCY = CONCURRENCY_ON[dialect];
  test(`${PURCHASES} purchases on ${dialect}: every sale terminal, balances add up, the ledger audits and verifies`, async () => {
    const startedAt = Date.now();
    const random = SeededRandom.fromEnv(process.env.UDNS_TEST_SEED);
    console.log(`exchange-thousand (${dialect}): seed ${random.seed} (replay with UDNS_TEST_SEED=${random.seed})`);
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-thousand-'));
    cleanups.push(() => fs.rmSync(work, { recursive: true, force: true }));

    let backend: TestBackend | undefined;
    let databaseUrl: string | undefined;
    if (dialect === 'postgresql') {
      backend = await startPostgresBackend(pgBin!);
      cleanups.push(() => backend!.cleanup());
      databaseUrl = (await backend.fresh()).databaseUrl;
    }
    const edge: EdgeProcess = await startEdgeProcess([
      ...(databaseUrl === undefined ? [] : ['--database-url', databaseUrl]),
      '--offer-timeout', '60s', '--sale-timeout', SALE_TIMEOUT, '--dispute-window', DISPUTE_WINDOW,
    ]);
    cleanups.push(() => edge.stop());
    const target: DatabaseTarget = databaseUrl === undefined ? { dialect: 'sqlite', file: path.join(edge.dataDir, 'udns.db') } : { dialect: 'postgresql', url: databaseUrl };
    const beside = databaseUrl === undefined ? ['--data-dir', edge.dataDir] : ['--data-dir', edge.dataDir, '--database-url', databaseUrl];

    // Accounts, beside the running edge (the same database).
    const tokens = new Map<string, string>();
    const store = await openAccountStore({ dataDir: edge.dataDir, databaseUrl });
    try {
      const names = [...Array.from({ length: SELLERS }, (_, i) => `seller${i}`), ...Array.from({ length: RICH_BUYERS + POOR_BUYERS }, (_, i) => `buyer${i}`)];
      await pool(names, 4, async (name) => void tokens.set(name, (await store.createAccount(name)).token));
    } finally {
      await store.close();
    }

    // Grants: the rich through the admin API (each sent twice with its key: granted once),
    // the poor with `udns account grant` beside the edge.
    const buyers: Buyer[] = [];
    await pool(Array.from({ length: RICH_BUYERS + POOR_BUYERS }, (_, i) => i), 8, async (i) => {
      const name = `buyer${i}`;
      const token = tokens.get(name)!;
      const edgeTarget: EdgeTarget = { server: edge.serverUrl, token, trust: { insecure: false } };
      const env = { UDNS_CONFIG: path.join(work, 'buyers', name, 'config.json'), XDG_STATE_HOME: path.join(work, 'buyers', name, 'state') };
      buyers[i] = { name, token, edge: edgeTarget, env, pair: (await ensureSigningKey(env, edgeTarget)).pair, granted: i < RICH_BUYERS ? RICH_GRANT : POOR_GRANT };
    });
    const admin = async (route: string, body: unknown): Promise<{ status: number; json: { replayed?: boolean } }> => {
      const answer = await fetch(`${edge.serverUrl}/api/v1${route}`, { method: 'POST', headers: { authorization: `Bearer ${edge.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: answer.status, json: await answer.json() as { replayed?: boolean } };
    };
    await pool(buyers.slice(0, RICH_BUYERS), 8, async (buyer) => {
      const grant = { to: buyer.name, amount: RICH_GRANT, idempotencyKey: `welcome-${buyer.name}` };
      const [first, second] = await Promise.all([admin('/credits/grant', grant), admin('/credits/grant', grant)]);
      expect([first.status, second.status]).toEqual([200, 200]);
      expect([first.json.replayed, second.json.replayed].filter(Boolean)).toHaveLength(1);
    });
    await Promise.all(buyers.slice(RICH_BUYERS).map(async (buyer) => {
      const granted = await runCli(['account', 'grant', buyer.name, String(POOR_GRANT), '--key', `welcome-${buyer.name}`, ...beside]);
      expect(granted.stderr).toBe('');
      expect(granted.code).toBe(0);
    }));
    const grantedTotal = buyers.reduce((sum, buyer) => sum + buyer.granted, 0);

    // Sellers: a real `udns share --list --price` process each, files of 3 KiB to 2 MiB.
    const files: PaidFile[] = [];
    const originals = new Map<string, string>();
    const sellers: AgentProcess[] = [];
    for (let s = 0; s < SELLERS; s++) {
      const dir = path.join(work, 'sellers', `seller${s}`, 'share');
      fs.mkdirSync(dir, { recursive: true });
      const label = `shop${s}-${dialect === 'sqlite' ? 's' : 'p'}`;
      for (let f = 0; f < FILES_PER_SELLER; f++) {
        const name = `item${f}.bin`;
        const size = f === FILES_PER_SELLER - 1 ? 2 * 1024 * 1024 - random.int(0, 4096) : random.int(3 * 1024, 300 * 1024);
        const data = randomBytes(size);
        fs.writeFileSync(path.join(dir, name), data);
        files.push({ seller: s, name, price: random.int(5, 40), sha256: sha256(data), url: '' });
        originals.set(`${s}/${name}`, sha256(data));
      }
      fs.writeFileSync(path.join(dir, 'readme.txt'), 'free\n');
    }
    // All four at once (the files and prices above are drawn first, so the seed gives the same run).
    await Promise.all(Array.from({ length: SELLERS }, async (_, s) => {
      const dir = path.join(work, 'sellers', `seller${s}`, 'share');
      const label = `shop${s}-${dialect === 'sqlite' ? 's' : 'p'}`;
      const prices = files.filter((file) => file.seller === s).flatMap((file) => ['--price', `${file.name}=${file.price}`]);
      const agent = await AgentProcess.start([
        'share', dir, '--name', label, '--list', ...prices, '--server', edge.serverUrl, '--token-file', writeTokenFile(tokens.get(`seller${s}`)!),
      ], { UDNS_CONFIG: path.join(work, 'sellers', `seller${s}`, 'config.json'), XDG_CACHE_HOME: path.join(work, 'sellers', `seller${s}`, 'cache') });
      cleanups.push(() => agent.stop());
      sellers[s] = agent;
      for (const file of files.filter((candidate) => candidate.seller === s)) file.url = `${agent.url}/${file.name}`;
    }));
    const listedCount = async (): Promise<number> => Number((await queryRows(target, 'SELECT COUNT(*) FROM "IndexedFile" WHERE "price" IS NOT NULL AND "merkleRoot" IS NOT NULL'))[0]![0]);
    await eventually('every paid file listed with its price and root', async () => (await listedCount()) === files.length ? true : undefined, { timeoutMs: 30_000, intervalMs: 200 });

    const setupSeconds = (Date.now() - startedAt) / 1000;
    // The purchases: fates, buyers and files all from the seed.
    const pickFate = (): Fate => {
      let roll = random.next();
      for (const [fate, share] of FATES) {
        if ((roll -= share) < 0) return fate;
      }
      return 'honest';
    };
    const plan = Array.from({ length: PURCHASES }, (_, index) => {
      const drawn = pickFate();
      const fate: Fate = drawn === 'abandon' && index >= PURCHASES / 2 ? 'cancel' : drawn;
      const buyer = fate === 'poor' ? buyers[RICH_BUYERS + random.int(0, POOR_BUYERS - 1)]! : buyers[random.int(0, RICH_BUYERS - 1)]!;
      return { index, fate, buyer, file: random.pick(files) };
    });
    const KILL_AT = Math.floor(PURCHASES * 0.35);
    const KILLED = 0;
    const proxy = await flippingProxy(edge.httpPort);
    cleanups.push(() => proxy.close());

    // The seller's downtime: from its SIGKILL until its files are listed again after the restart.
    const downtime = { from: Number.POSITIVE_INFINITY, to: Number.POSITIVE_INFINITY };
    let restart: Promise<unknown> | null = null;
    const outcomes: Outcome[] = [];

    const purchase = async (item: (typeof plan)[number]): Promise<void> => {
      if (item.index === KILL_AT) {
        restart = (async () => {
          downtime.from = Date.now();
          await sellers[KILLED]!.kill();
          // A loaded machine starts node slowly: the restart may take a while, the buyers wait.
          await sellers[KILLED]!.startAgain(120_000);
          await eventually('the restarted seller\'s files listed again', async () => {
            const rows = await queryRows(target, `SELECT COUNT(*) FROM "IndexedFile" f JOIN "ListedShare" s ON s."id" = f."shareId" WHERE s."online" = true AND f."price" IS NOT NULL AND s."label" LIKE 'shop${KILLED}-%'`).catch(() => [[0]]);
            return Number(rows[0]![0]) === FILES_PER_SELLER ? true : undefined;
          }, { timeoutMs: 30_000, intervalMs: 100 });
          downtime.to = Date.now();
        })().catch((error: unknown) => {
          downtime.to = Date.now();
          return error;
        });
      }
      const { fate, buyer, file, index } = item;
      const outcome: Outcome = { index, fate, buyer: buyer.name, file, ok: false, detail: '', startedAt: Date.now(), endedAt: 0 };
      outcomes.push(outcome);
      const url = new URL(file.url);
      const dest = path.join(work, 'buyers', buyer.name, `p${index}`, file.name);
      try {
        switch (fate) {
          case 'honest':
          case 'retried': {
            const idempotencyKey = `thousand-${index}-${randomBytes(6).toString('hex')}`;
            if (fate === 'retried') {
              // The request retried with the same key (as after a lost answer): one sale.
              fs.mkdirSync(path.dirname(dest), { recursive: true });
              writeSaleFile(purchaseFilesFor(dest), { v: 1, url: url.href, edge: new URL(edge.serverUrl).origin, idempotencyKey, maxPrice: file.price });
              const twice = await Promise.all([0, 1].map(() => purchases.request(buyer.edge, { url: url.href, maxPrice: file.price, idempotencyKey })));
              expect(twice[1]!.id).toBe(twice[0]!.id);
              outcome.saleId = twice[0]!.id;
            }
            // As a member would: a command that timed out against the busy edge is run again, and
            // resumes the same sale (its idempotency key is saved beside the destination).
            const bought = await (async () => {
              for (let attempt = 1; ; attempt++) {
                try {
                  return await buyFile({
                    url, dest, edge: buyer.edge, env: buyer.env, access: { trust: { insecure: false } }, progress: silent, retry, member: null,
                    payUpTo: file.price, hintedPrice: file.price, ask: null, force: false,
                  });
                } catch (error) {
                  if (attempt >= 4 || !isUdnsError(error, 'server_unreachable')) throw error;
                  outcome.reruns = attempt;
                }
              }
            })();
            if (outcome.saleId !== undefined) expect(bought.sale.id).toBe(outcome.saleId);
            outcome.saleId = bought.sale.id;
            expect(sha256(fs.readFileSync(dest))).toBe(file.sha256);
            if (fate === 'retried') {
              // Once more after the release: still the one sale, nothing moves again.
              const again = await purchases.request(buyer.edge, { url: url.href, maxPrice: file.price, idempotencyKey });
              expect(again.id).toBe(bought.sale.id);
              expect(['released', 'settled']).toContain(again.state);
            }
            outcome.ok = true;
            outcome.detail = bought.sale.state;
            break;
          }
          case 'abandon':
          case 'cancel': {
            let sale = await purchases.request(buyer.edge, { url: url.href, maxPrice: file.price, idempotencyKey: `thousand-${index}-${randomBytes(6).toString('hex')}` });
            outcome.saleId = sale.id;
            while (sale.state === 'offering') sale = await purchases.waitWhile(buyer.edge, sale.id, 'offering');
            if (sale.state !== 'reserved') throw new Error(`sale ${sale.id} is ${sale.state} (${sale.reason ?? ''}), not reserved`);
            if (fate === 'cancel') {
              const cancelled = await purchases.cancel(buyer.edge, sale.id);
              expect(cancelled.state).toBe('refunded');
              // Cancelling again changes nothing.
              expect((await purchases.cancel(buyer.edge, sale.id).catch(() => purchases.get(buyer.edge, sale.id))).state).toBe('refunded');
            }
            outcome.ok = true;
            outcome.detail = fate === 'cancel' ? 'refunded' : 'left reserved';
            break;
          }
          case 'poor': {
            const refused = await purchases.request(buyer.edge, { url: url.href, maxPrice: file.price, idempotencyKey: `thousand-${index}-${randomBytes(6).toString('hex')}` }).then(
              (sale) => { outcome.saleId = sale.id; return null; },
              (error: unknown) => error,
            );
            expect(isUdnsError(refused, 'insufficient_credits'), String(refused)).toBe(true);
            outcome.ok = true;
            outcome.detail = 'refused';
            break;
          }
          case 'corrupt': {
            const member = tamperedTransfers(proxy.port);
            const failed = await buyFile({
              url, dest, edge: buyer.edge, env: buyer.env, access: { trust: { insecure: false } }, progress: silent, retry, member,
              payUpTo: file.price, hintedPrice: file.price, ask: null, force: false,
            }).then(() => null, (error: unknown) => error);
            expect(isUdnsError(failed, 'hash_mismatch'), String(failed)).toBe(true);
            expect((failed as Error).message).toMatch(/refused, nothing paid \(cancelled sale ([0-9a-f]{32}), your \d+ credits are back\)/);
            outcome.saleId = /cancelled sale ([0-9a-f]{32})/.exec((failed as Error).message)![1];
            expect(fs.existsSync(dest)).toBe(false);
            outcome.ok = true;
            outcome.detail = 'cancelled';
            break;
          }
          case 'liar': {
            // The pieces of the buyer library: offer, manifest, the sealed file, accept; then a
            // "proof" that the genuine first chunk is bad. The escrow must reject it.
            let sale: SaleView = await purchases.request(buyer.edge, { url: url.href, maxPrice: file.price, idempotencyKey: `thousand-${index}-${randomBytes(6).toString('hex')}` });
            outcome.saleId = sale.id;
            while (sale.state === 'offering') sale = await purchases.waitWhile(buyer.edge, sale.id, 'offering');
            if (sale.state !== 'reserved') throw new Error(`sale ${sale.id} is ${sale.state} (${sale.reason ?? ''}), not reserved`);
            const offer = checkOffer(sale, await purchases.keysOf(buyer.edge, sale.seller));
            const saleUrl = `${url.href}?sale=${sale.id}`;
            const manifest = checkManifest(await fetchBytes(new URL(`${saleUrl}&manifest=1`)), offer);
            const sealed = await fetchBytes(new URL(saleUrl));
            const firstChunk = sealed.subarray(0, plainChunkLength(offer.size, 0) + SEAL_TAG_BYTES);
            expect(chunkCount(offer.size)).toBe(manifest.cipherLeaves.length);
            const acceptance: AcceptanceBody = { v: 1, saleId: sale.id, buyer: sale.buyer, cipherRoot: offer.cipherRoot, offerSignature: sale.offer!.signature, acceptedAt: Date.now() };
            const signed = signStatement('acceptance', acceptance, buyer.pair);
            const [accepted, acceptedAgain] = await Promise.all([purchases.accept(buyer.edge, sale.id, signed), purchases.accept(buyer.edge, sale.id, signed)]);
            expect(acceptedAgain.key).toBe(accepted.key);
            expect(accepted.sale.state).toBe('released');
            const lie = await purchases.dispute(buyer.edge, sale.id, proofOf(manifest, 0, firstChunk)).then(() => null, (error: unknown) => error);
            expect(isUdnsError(lie, 'proof_rejected'), String(lie)).toBe(true);
            outcome.ok = true;
            outcome.detail = 'lie rejected';
            break;
          }
        }
      } catch (error) {
        outcome.detail = (error as Error).message;
        // A seller's agent declines a sale when its sealing queue is full (agent/exchange/sale-desk.ts,
        // MAX_QUEUED_SEALINGS): a designed outcome under this load, nothing reserved.
        if (fate !== 'poor' && fate !== 'corrupt' && /failed[:( ]+declined/.test(outcome.detail)) {
          outcome.ok = true;
          outcome.detail = 'declined';
          outcome.saleId ??= /sale ([0-9a-f]{32})/.exec((error as Error).message)?.[1];
        }
      }
      outcome.endedAt = Date.now();
      if (outcomes.filter((done) => done.endedAt > 0).length % 100 === 0) console.log(`exchange-thousand (${dialect}): ${outcomes.filter((done) => done.endedAt > 0).length} of ${PURCHASES} done after ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
    };
    await pool(plan, CONCURRENCY, purchase);
    const restartError = await restart;
    expect(restartError === undefined ? undefined : String(restartError), 'the seller restarted and listed again').toBeUndefined();
    const runSeconds = (Date.now() - startedAt) / 1000;

    // Only purchases from the killed seller while it was down may have failed, and only for
    // want of the seller (the wait, the offer, the sealed copy): every other one did what its fate says.
    const disturbed = (outcome: Outcome): boolean => outcome.file.seller === KILLED && outcome.startedAt <= downtime.to && outcome.endedAt >= downtime.from;
    const failures = outcomes.filter((outcome) => !outcome.ok && !disturbed(outcome));
    if (failures.length > 0) console.log(edge.cli.stderr().slice(-4000), outcomes.map((o) => `${o.index} ${o.fate} ${o.endedAt - o.startedAt}ms ${o.detail.slice(0, 100)}`).join('\n'));
    expect(failures.slice(0, 5).map((outcome) => `#${outcome.index} ${outcome.fate} ${outcome.buyer} ${outcome.file.url}: ${outcome.detail}`)).toEqual([]);
    const counts: Record<string, number> = {};
    for (const outcome of outcomes) counts[`${outcome.fate}${outcome.ok ? '' : ' (disturbed, failed)'}`] = (counts[`${outcome.fate}${outcome.ok ? '' : ' (disturbed, failed)'}`] ?? 0) + 1;
    counts.rerunAfterTimeout = outcomes.filter((outcome) => outcome.reruns !== undefined).length;
    console.log(`exchange-thousand (${dialect}): ${PURCHASES} purchases in ${(runSeconds - setupSeconds).toFixed(1)} s after ${setupSeconds.toFixed(1)} s of setup: ${JSON.stringify(counts)}; seller ${KILLED} down ${((downtime.to - downtime.from) / 1000).toFixed(1)} s`);
    expect(sellers[KILLED]!.starts).toBe(2);

    // Every sale terminal: settled after the dispute window, refunded after the sale timeout.
    const open = async (): Promise<number> => Number((await queryRows(target, 'SELECT COUNT(*) FROM "Sale" WHERE "state" NOT IN (\'settled\', \'refunded\', \'failed\')'))[0]![0]);
    await eventually('every sale settled, refunded or failed', async () => (await open()) === 0 ? true : undefined, { timeoutMs: 60_000, intervalMs: 250 });

    const sales = (await queryRows(target, 'SELECT "id", "state", "reason", "price", "buyerId" FROM "Sale"')).map((row) => ({ id: String(row[0]), state: String(row[1]), reason: row[2] === null ? null : String(row[2]), price: Number(row[3]), buyerId: Number(row[4]) }));
    const movements = (await queryRows(target, 'SELECT "saleId", "kind", "amount" FROM "CreditMovement" WHERE "saleId" IS NOT NULL')).map((row) => ({ saleId: String(row[0]), kind: String(row[1]), amount: Number(row[2]) }));
    const kindsOf = new Map<string, string[]>();
    for (const movement of movements) kindsOf.set(movement.saleId, [...(kindsOf.get(movement.saleId) ?? []), movement.kind]);
    const byId = new Map(sales.map((sale) => [sale.id, sale]));
    const wrong: string[] = [];
    for (const sale of sales) {
      const kinds = (kindsOf.get(sale.id) ?? []).sort().join(',');
      const expected = sale.state === 'settled' ? ['pay,reserve,settle'] : sale.state === 'failed' ? [''] : ['refund,reserve', 'pay,reclaim,reserve'];
      if (!expected.includes(kinds)) wrong.push(`${sale.id} ${sale.state} (${sale.reason}): ${kinds}`);
      // Never both paid and refunded (an upheld proof is the one way back after a payment, and none is honest here).
      if (kinds.includes('pay') && kinds.includes('refund')) wrong.push(`${sale.id} both paid and refunded`);
    }
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(sales.filter((sale) => sale.state === 'refunded' && sale.reason === 'proof upheld')).toEqual([]);
    // What each fate must have become.
    const stateOf = (outcome: Outcome): string | undefined => outcome.saleId === undefined ? undefined : byId.get(outcome.saleId)?.state;
    for (const outcome of outcomes.filter((candidate) => candidate.ok && !(candidate.detail === 'declined' && candidate.saleId === undefined))) {
      const expected = outcome.detail === 'declined' ? 'failed' : { honest: 'settled', retried: 'settled', liar: 'settled', abandon: 'refunded', cancel: 'refunded', corrupt: 'refunded', poor: undefined }[outcome.fate];
      expect({ index: outcome.index, fate: outcome.fate, state: stateOf(outcome) }).toEqual({ index: outcome.index, fate: outcome.fate, state: expected });
    }
    // Every sale is one of the purchases: those of the fates above, and at most one per disturbed failure.
    const known = new Set(outcomes.map((outcome) => outcome.saleId).filter((id) => id !== undefined));
    expect(sales.filter((sale) => !known.has(sale.id)).length).toBeLessThanOrEqual(outcomes.filter((outcome) => (!outcome.ok || outcome.detail === 'declined') && outcome.saleId === undefined).length);

    // The books: all wallets sum to 0, nothing in escrow or held, the members hold what was granted.
    const wallets = (await queryRows(target, 'SELECT "key", "balance" FROM "Wallet"')).map((row) => ({ key: String(row[0]), balance: Number(row[1]) }));
    expect(wallets.reduce((sum, wallet) => sum + wallet.balance, 0)).toBe(0);
    expect(wallets.find((wallet) => wallet.key === 'issuance')?.balance).toBe(-grantedTotal);
    expect(wallets.filter((wallet) => wallet.key === 'escrow' || wallet.key.startsWith('held:')).map((wallet) => wallet.balance).filter((balance) => balance !== 0)).toEqual([]);
    expect(wallets.filter((wallet) => wallet.key.startsWith('member:')).reduce((sum, wallet) => sum + wallet.balance, 0)).toBe(grantedTotal);
    // Each buyer: its grant minus the prices of its settled purchases, as the credits API says.
    const accountIds = new Map((await queryRows(target, 'SELECT "id", "name" FROM "Account"')).map((row) => [String(row[1]), Number(row[0])]));
    for (const buyer of buyers) {
      const spent = sales.filter((sale) => sale.buyerId === accountIds.get(buyer.name) && sale.state === 'settled').reduce((sum, sale) => sum + sale.price, 0);
      const answer = await fetch(`${edge.serverUrl}/api/v1/credits?limit=1`, { headers: { authorization: `Bearer ${buyer.token}` } });
      const body = await answer.json() as { available: number; held: number };
      expect({ buyer: buyer.name, available: body.available, held: body.held }).toEqual({ buyer: buyer.name, available: buyer.granted - spent, held: 0 });
    }

    // The operator's audit beside the edge, and a few members' verification.
    const audit = await runCli(['ledger', 'audit', ...beside]);
    expect(audit.stderr).toBe('');
    expect(audit.code).toBe(0);
    expect(audit.stdout).toMatch(/^ledger audited: \d+ entries chained/);
    for (const buyer of [buyers[0]!, buyers[1]!, buyers[RICH_BUYERS]!]) {
      const verified = await runCli(['ledger', 'verify'], { ...buyer.env, UDNS_SERVER: edge.serverUrl, UDNS_TOKEN: buyer.token });
      expect(verified.stderr).toBe('');
      expect(verified.code).toBe(0);
      expect(verified.stdout).toMatch(/ledger verified: \d+ entries/);
    }
    console.log(`exchange-thousand (${dialect}): done in ${((Date.now() - startedAt) / 1000).toFixed(1)} s (${sales.length} sales; ${audit.stdout.trim()})`);
  }, 900_000);
});
