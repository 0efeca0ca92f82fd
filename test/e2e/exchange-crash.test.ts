import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  SaleView,
  generateSigningKey,
  signStatement,
  type AcceptanceBody,
  type IndexEntry,
  type OfferBody,
  type SaleProof,
  type SigningKeyPair,
} from '../../protocol/index.js';
import { inclusionProof } from '../../protocol/merkle.js';
import { CHUNK_BYTES, chunkCount, commitPlain, plainChunkLength, sealChunk } from '../../protocol/sealed-file.js';
import { openAccountStore, storeDatabase } from '../../server/accounts/account-store.js';
import { openSigningKeyStore } from '../../server/keys/signing-key-store.js';
import { openCreditBook } from '../../server/ledger/credit-book.js';
import { auditLedger } from '../../server/ledger/ledger-audit.js';
import { openLedgerLog } from '../../server/ledger/ledger-log.js';
import { startEdgeProcess, type EdgeProcess } from '../helpers/edge-process.js';
import { restartEdgeProcess } from '../helpers/edge-restart.js';
import { eventually } from '../helpers/eventually.js';
import { TestSeller } from '../helpers/exchange-seller.js';
import { findPostgresBinaries, requirePostgresInCi, sqliteBackend, startPostgresBackend, type TestBackend, type TestDatabase } from '../helpers/test-databases.js';

/*
 * The escrow survives the edge's SIGKILL at every step of the state machine. For each crash
 * point the real edge process starts with UDNS_FAILPOINTS=<point>; a seller (a test agent
 * speaking the control protocol: it lists a priced file and answers sale requests with signed
 * offers) and a buyer (the purchases API) drive one purchase until the edge kills itself there;
 * the edge restarts on the same database, the seller reconnects, the buyer repeats its last
 * request (same idempotency key, same acceptance, same cancel or proof), and the sale must end
 * where it should: settled, or refunded. Then: every sale closed, each step's movement at most
 * once, all wallets sum to 0, the buyer and the seller together hold the 1000 credits granted,
 * and the ledger audit is clean.
 */

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);

const SHARE = 'alice-docs';
const PRICE = 50;
const GRANT = 1000;
const FILE_SIZE = CHUNK_BYTES + 300_000;
const logger = pino({ level: 'silent' });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-exchange-crash-'));
const listedFile = path.join(tmp, 'talk.pdf');
const otherFile = path.join(tmp, 'other.pdf');
fs.writeFileSync(listedFile, randomBytes(FILE_SIZE));
fs.writeFileSync(otherFile, randomBytes(FILE_SIZE));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

type Branch = 'settle' | 'cancel' | 'dispute';
/** Every crash point, and the path of the purchase that reaches it. */
const POINTS: Array<[string, Branch]> = [
  ...['offer', 'reserve', 'release', 'settle'].flatMap((step): Array<[string, Branch]> => [[`sale.${step}.before-commit`, 'settle'], [`sale.${step}.after-commit`, 'settle']]),
  ['sale.refund.before-commit', 'cancel'], ['sale.refund.after-commit', 'cancel'],
  ['sale.reclaim.before-commit', 'dispute'], ['sale.reclaim.after-commit', 'dispute'],
];

/**
 * The points a run covers on `dialect`. `UDNS_CRASH_POINTS=all` (npm run test:chaos): all twelve
 * on both databases. `npm test` covers each point once, to stay inside CI's 15 minutes on 2
 * cores: the six before-commit points on PostgreSQL (its transaction must leave nothing behind,
 * advisory lock and all) and the six after-commit points on SQLite (the recovery that follows a
 * commit is the same code on both).
 */
function pointsOn(dialect: 'sqlite' | 'postgresql'): Array<[string, Branch]> {
  if (process.env.UDNS_CRASH_POINTS === 'all' || pgBin === null) return POINTS;
  return POINTS.filter(([point]) => point.endsWith(dialect === 'postgresql' ? '.before-commit' : '.after-commit'));
}

interface Member { id: number; token: string; key: SigningKeyPair }

/** The buyer, through the purchases API; every call may meet a dead edge (and throws then). */
class TestBuyer {
  constructor(private readonly serverUrl: () => string, private readonly me: Member) {}

  private async call(method: string, route: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const response = await fetch(`${this.serverUrl()}/api/v1${route}`, {
      method,
      headers: { Authorization: `Bearer ${this.me.token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, json: await response.json() as Record<string, unknown> };
  }

  private async ok(method: string, route: string, body?: unknown): Promise<Record<string, unknown>> {
    const { status, json } = await this.call(method, route, body);
    if (status !== 200) throw new Error(`${method} ${route}: ${status} ${JSON.stringify(json)}`);
    return json;
  }

  purchase(url: string, idempotencyKey: string): Promise<SaleView> {
    return this.ok('POST', '/purchases', { url, maxPrice: PRICE, idempotencyKey }).then((json) => SaleView.parse(json));
  }

  /** The sale once it has left `state` (long-polls of 5 s, repeated). */
  async leaving(id: string, state: string): Promise<SaleView> {
    for (;;) {
      const sale = SaleView.parse(await this.ok('GET', `/purchases/${id}?wait=5000&state=${state}`));
      if (sale.state !== state) return sale;
    }
  }

  async accept(sale: SaleView): Promise<{ key: string }> {
    const offer = sale.offer!;
    const body: AcceptanceBody = { v: 1, saleId: sale.id, buyer: 'bob', cipherRoot: (offer.body as OfferBody).cipherRoot, offerSignature: offer.signature, acceptedAt: 1_764_000_000_000 };
    return await this.ok('POST', `/purchases/${sale.id}/accept`, { acceptance: signStatement('acceptance', body, this.me.key) }) as { key: string };
  }

  cancel(id: string): Promise<SaleView> {
    return this.ok('POST', `/purchases/${id}/cancel`).then((json) => SaleView.parse(json));
  }

  dispute(id: string, proof: SaleProof): Promise<SaleView> {
    return this.ok('POST', `/purchases/${id}/dispute`, proof).then((json) => SaleView.parse(json));
  }
}

describe.each(pgBin === null ? (['sqlite'] as const) : (['sqlite', 'postgresql'] as const))('the escrow survives SIGKILL at every step, on %s', (dialect) => {
  let backend: TestBackend;
  let listing: { sha256: string; root: string; leaves: Buffer[] };
  let entry: IndexEntry;
  beforeAll(async () => {
    backend = dialect === 'sqlite' ? sqliteBackend() : await startPostgresBackend(pgBin!);
    listing = await commitPlain(listedFile);
    entry = { path: '/talk.pdf', size: FILE_SIZE, mtime: 1_764_000_000_000, type: 'application/pdf', sha256: listing.sha256, price: PRICE, merkleRoot: listing.root };
  }, 60_000);
  afterAll(() => backend?.cleanup());

  /** A database with alice (seller) and bob (buyer, 1000 credits), both with registered signing keys. */
  async function prepare(db: TestDatabase): Promise<{ alice: Member; bob: Member }> {
    const store = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    try {
      const ledger = await openLedgerLog(store, { dataDir: db.dataDir, logger });
      const keys = openSigningKeyStore(store);
      const members = await Promise.all(['alice', 'bob'].map(async (name) => {
        const { account, token } = await store.createAccount(name);
        const key = generateSigningKey();
        await keys.register(account, key.publicKey);
        return { id: account.id, token, key };
      }));
      await openCreditBook(store, ledger).move({ actor: 'operator', idempotencyKey: 'grant-bob-1', kind: 'grant', from: 'issuance', to: { member: members[1]!.id }, amount: GRANT });
      await ledger.close();
      return { alice: members[0]!, bob: members[1]! };
    } finally {
      await store.close();
    }
  }

  test.each(pointsOn(dialect))('%s', async (point, branch) => {
    const db = await backend.fresh();
    fs.mkdirSync(db.dataDir, { recursive: true });
    const { alice, bob } = await prepare(db);
    const args = [
      ...(db.databaseUrl ? ['--database-url', db.databaseUrl] : []),
      '--offer-timeout', '60s', '--sale-timeout', '60s', '--dispute-window', branch === 'dispute' ? '60s' : '2s',
    ];
    // Only the first edge is armed (spawn copies the environment at once).
    process.env.UDNS_FAILPOINTS = point;
    const starting = startEdgeProcess(args, { dataDir: db.dataDir });
    delete process.env.UDNS_FAILPOINTS;
    let edge = await starting;
    const lying = branch === 'dispute';
    const sellerListing = { share: SHARE, seller: 'alice', file: listedFile, entry, ...(lying ? { sealInstead: otherFile } : {}) };
    let seller = await TestSeller.connect(edge.serverUrl, alice.token, alice.key, sellerListing);
    const buyer = new TestBuyer(() => edge.serverUrl, bob);
    const url = `http://${SHARE}.localhost:${edge.httpPort}/talk.pdf`;
    const purchaseKey = `crash-${point}`;

    /** One purchase down `branch`, each step repeatable: run once into the crash, once after it. */
    const purchase = async (): Promise<SaleView> => {
      let sale = await buyer.purchase(url, purchaseKey);
      if (sale.state === 'offering') sale = await buyer.leaving(sale.id, 'offering');
      if (sale.state === 'reserved') {
        if (branch === 'cancel') return buyer.cancel(sale.id);
        await buyer.accept(sale);
        sale = SaleView.parse({ ...sale, state: 'released' });
      }
      if (sale.state === 'released' && branch === 'dispute') {
        const { key } = await buyer.accept(sale);
        const sealed = TestSeller.sealed.get(sale.id)!;
        const count = chunkCount(FILE_SIZE);
        const plain = fs.readFileSync(otherFile).subarray(0, plainChunkLength(FILE_SIZE, 0));
        return buyer.dispute(sale.id, {
          index: 0,
          cipherChunk: sealChunk(Buffer.from(key, 'hex'), sale.id, 0, count, plain).toString('base64'),
          cipherPath: inclusionProof(sealed.cipherLeaves, 0).map((hash) => hash.toString('hex')),
          plainLeaf: listing.leaves[0]!.toString('hex'),
          plainPath: inclusionProof(listing.leaves, 0).map((hash) => hash.toString('hex')),
        });
      }
      if (sale.state === 'released') sale = await buyer.leaving(sale.id, 'released');
      return sale;
    };

    try {
      // Into the crash: the edge kills itself at the point (the buyer's request dies with it).
      const died = edge.cli.exited;
      await Promise.race([purchase().catch(() => undefined), died]);
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`the edge never reached ${point}: ${edge.cli.stderr().slice(-2000)}`)), 60_000); });
      expect(await Promise.race([died, stuck]).finally(() => clearTimeout(timer))).toEqual({ code: null, signal: 'SIGKILL' });
      seller.close();

      edge = await restartEdgeProcess(edge, args);
      seller = await TestSeller.connect(edge.serverUrl, alice.token, alice.key, sellerListing);
      const sale = await eventually('the purchase to finish after the restart', () => purchase().catch(() => undefined), { timeoutMs: 60_000, intervalMs: 500 });
      expect(sale.state).toBe(branch === 'settle' ? 'settled' : 'refunded');
      expect(sale.reason).toBe(branch === 'settle' ? null : branch === 'cancel' ? 'cancelled' : 'proof upheld');

      const store = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
      try {
        const { prisma } = storeDatabase(store);
        const sales = await prisma.sale.findMany();
        // At most one sale per purchase key, and none left open.
        expect(sales.filter((row) => row.buyerKey === purchaseKey)).toHaveLength(1);
        expect(sales.filter((row) => !['settled', 'refunded', 'failed'].includes(row.state))).toEqual([]);
        const movements = await prisma.creditMovement.findMany({ where: { saleId: sale.id } });
        const kinds = movements.map((movement) => movement.kind).sort();
        expect(kinds).toEqual(branch === 'settle' ? ['pay', 'reserve', 'settle'] : branch === 'cancel' ? ['refund', 'reserve'] : ['pay', 'reclaim', 'reserve']);
        const wallets = new Map((await prisma.wallet.findMany()).map((wallet) => [wallet.key, Number(wallet.balance)]));
        expect(wallets.get(`member:${bob.id}`)! + (wallets.get(`member:${alice.id}`) ?? 0)).toBe(GRANT);
        expect(wallets.get(`member:${alice.id}`) ?? 0).toBe(branch === 'settle' ? PRICE : 0);
        expect(wallets.get('escrow') ?? 0).toBe(0);
        expect(wallets.get(`held:${alice.id}`) ?? 0).toBe(0);
        const { report } = await auditLedger(storeDatabase(store));
        expect(report.problems).toEqual([]);
        expect(report).toMatchObject({ ok: true, walletSum: '0' });
      } finally {
        await store.close();
      }
    } finally {
      seller.close();
      await edge.stop();
    }
  }, 180_000);
});
