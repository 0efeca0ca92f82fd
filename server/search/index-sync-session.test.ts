import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  INDEX_BUCKETS, INDEX_WINDOW, bucketDigestsHex, bucketOf, entryDigest,
  type EdgeMessage, type IndexBatch, type IndexEntry, type ListShare, type UdnsError,
} from '../../protocol/index.js';
import { openAccountStore, type AccountStore } from '../accounts/account-store.js';
import { executeSql, findPostgresBinaries, requirePostgresInCi, sqliteBackend, startPostgresBackend, type TestBackend, type TestDatabase } from '../../test/helpers/test-databases.js';
import type { Logger } from '../logger.js';
import { eventually } from '../../test/helpers/eventually.js';
import { INDEX_BURST_SECONDS, IndexSync, type IndexSyncSettings } from './index-sync.js';
import { LIST_SHARE_COST, MAX_WAITING_INDEX_REQUESTS, type IndexSyncSession, type IndexSyncTunnel } from './index-sync-session.js';
import type { SearchIndex } from './search-index.js';
import { createSearchIndex } from './sql-search-index.js';

/*
 * The edge's index sync against a real store (SQLite files, and a private PostgreSQL cluster). The tunnel is the one stand-in:
 * its port (IndexSyncTunnel) is what TunnelSession gives the sync, and test/e2e/index-sync-*
 * drives the real one with a hostile agent and a real agent.
 */

const NOW = Date.now();
const quiet = pino({ level: 'silent' });

/** The tunnel as the sync sees it: its routes, what it was sent, how it failed. */
class TunnelPort implements IndexSyncTunnel {
  readonly sent: EdgeMessage[] = [];
  readonly failures: UdnsError[] = [];
  readonly routes = new Map<string, { kind: 'http' | 'tcp'; label?: string }>();
  constructor(readonly id: string, readonly accountId: number, readonly logger: Logger = quiet) {}
  httpRouteLabel(routeId: string): string | undefined {
    const route = this.routes.get(routeId);
    return route?.kind === 'http' ? route.label : undefined;
  }
  holdsRoute(routeId: string): boolean {
    return this.routes.has(routeId);
  }
  send(message: EdgeMessage): void {
    this.sent.push(message);
  }
  fail(error: UdnsError): void {
    this.failures.push(error);
  }
  of<T extends EdgeMessage['type']>(type: T): Extract<EdgeMessage, { type: T }>[] {
    return this.sent.filter((message): message is Extract<EdgeMessage, { type: T }> => message.type === type);
  }
}

function entry(path: string, extra: Partial<IndexEntry> = {}): IndexEntry {
  return { path, size: 100, mtime: NOW - 60_000, type: 'application/pdf', ...extra };
}

function summary(entries: IndexEntry[]): ListShare['summary'] {
  const digests = new Uint32Array(INDEX_BUCKETS);
  for (const e of entries) digests[bucketOf(e.path)] = (digests[bucketOf(e.path)]! ^ entryDigest(e)) >>> 0;
  return { entries: entries.length, digests: bucketDigestsHex(digests) };
}

function listShare(routeId: string, entries: IndexEntry[], extra: Partial<ListShare> = {}): ListShare {
  return { type: 'listShare', requestId: 1, routeId, locked: false, summary: summary(entries), ...extra };
}

function batch(routeId: string, seq: number, extra: Partial<IndexBatch> = {}): IndexBatch {
  return { type: 'indexBatch', routeId, seq, reset: [], upserts: [], removes: [], ...extra };
}

const files = (count: number, prefix = 'report'): IndexEntry[] => Array.from({ length: count }, (_, i) => entry(`/docs/${prefix}-${i}.pdf`));

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);

describe.each(pgBin === null ? (['sqlite'] as const) : (['sqlite', 'postgresql'] as const))('index sync session on %s', (dialect) => {
  let backend: TestBackend;
  const cleanups: Array<() => Promise<void>> = [];
  beforeAll(async () => { backend = dialect === 'sqlite' ? sqliteBackend() : await startPostgresBackend(pgBin!); }, 60_000);
  afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });
  afterAll(() => backend.cleanup());

  interface World {
    store: AccountStore;
    index: SearchIndex;
    sync: IndexSync;
    settings: IndexSyncSettings;
    alice: number;
    db: TestDatabase;
    /** What the sync logged at error level. */
    errors: string[];
    /** A tunnel of alice's holding http routes r1 (alice-docs) and r2 (alice-pics) and tcp route t1. */
    tunnel(id?: string): { port: TunnelPort; session: IndexSyncSession };
  }

  async function world(overrides: Partial<IndexSyncSettings> = {}): Promise<World> {
    const db = await backend.fresh();
    const store = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    const alice = (await store.createAccount('alice')).account.id;
    await store.claimName(alice, 'alice-docs');
    await store.claimName(alice, 'alice-pics');
    const index = createSearchIndex(store);
    const settings: IndexSyncSettings = { search: 'members', entriesPerShare: 1000, entriesPerAccount: 5000, ratePerTunnel: 1_000_000, ratePerAccount: 1_000_000, ...overrides };
    const errors: string[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => { errors.push(line); } });
    const sync = new IndexSync(index, settings, logger);
    cleanups.push(async () => { await sync.close(); await store.close(); });
    return {
      store, index, sync, settings, alice, db, errors,
      tunnel(id = 'tunnel-1') {
        const port = new TunnelPort(id, alice, logger);
        port.routes.set('r1', { kind: 'http', label: 'alice-docs' });
        port.routes.set('r2', { kind: 'http', label: 'alice-pics' });
        port.routes.set('t1', { kind: 'tcp' });
        return { port, session: sync.openSession(port) };
      },
    };
  }

  /** Lists `entries` under r1 from scratch, sending the wanted buckets in batches of 100. */
  async function listAndSend(w: World, port: TunnelPort, session: IndexSyncSession, entries: IndexEntry[], routeId = 'r1', firstSeq = 0): Promise<number> {
    session.receive(listShare(routeId, entries));
    const wanted = await eventually('indexWanted', () => port.of('indexWanted').find((m) => m.routeId === routeId));
    const inWanted = entries.filter((e) => wanted.buckets.includes(bucketOf(e.path)));
    let seq = firstSeq;
    for (let i = 0; i < inWanted.length || i === 0; i += 100) {
      session.receive(batch(routeId, seq, { reset: i === 0 ? wanted.buckets : [], upserts: inWanted.slice(i, i + 100) }));
      const want = seq++;
      await eventually(`ack ${want}`, () => port.of('indexAck').find((m) => m.seq === want));
    }
    return seq;
  }

  test('a listing asks for the differing buckets only, stores the batches, and acks each in order', async () => {
    const w = await world();
    const { port, session } = w.tunnel();
    const entries = files(250);
    await listAndSend(w, port, session, entries);
    expect(port.of('indexAck').map((m) => m.seq)).toEqual([0, 1, 2]);
    expect(await w.index.getShare('alice-docs')).toMatchObject({ online: true, entries: 250, accountId: w.alice });

    // The same summary again (a reconnect with nothing changed): no bucket wanted.
    const again = w.tunnel('tunnel-2');
    again.session.receive(listShare('r1', entries, { requestId: 7 }));
    const wanted = await eventually('indexWanted', () => again.port.of('indexWanted')[0]);
    expect(wanted).toEqual({ type: 'indexWanted', requestId: 7, routeId: 'r1', buckets: [] });

    // One file changed: exactly its bucket.
    const changed = entries.map((e, i) => (i === 17 ? { ...e, size: 999 } : e));
    const third = w.tunnel('tunnel-3');
    third.session.receive(listShare('r1', changed));
    expect((await eventually('indexWanted', () => third.port.of('indexWanted')[0])).buckets).toEqual([bucketOf(entries[17]!.path)]);
    expect([...port.failures, ...again.port.failures, ...third.port.failures]).toEqual([]);
  });

  test('protocol violations end the tunnel: a wrong seq, a batch beyond the window, a batch for a share never listed, a listing of a tcp or foreign route', async () => {
    const w = await world();
    const cases: Array<[string, (session: IndexSyncSession) => void, RegExp]> = [
      ['wrong seq', (s) => s.receive(batch('r1', 1)), /seq 1, expected 0/],
      ['not listed', (s) => s.receive(batch('r1', 0)), /not listed/],
      ['tcp route', (s) => s.receive(listShare('t1', [])), /no http route/],
      ['foreign route', (s) => s.receive(listShare('someone-elses', [])), /no http route/],
      ['unlist foreign', (s) => s.receive({ type: 'unlistShare', routeId: 'someone-elses' }), /not listed/],
    ];
    for (const [name, act, reason] of cases) {
      const { port, session } = w.tunnel(name);
      act(session);
      await session.idle();
      expect(port.failures.map((f) => `${f.code}: ${f.message}`), name).toEqual([expect.stringMatching(new RegExp(`^protocol_violation: .*${reason.source}`))]);
      session.tunnelClosed();
    }

    // listShare repeated faster than it is answered: the queue is bounded.
    const spam = w.tunnel('spam');
    for (let i = 0; i <= MAX_WAITING_INDEX_REQUESTS; i++) spam.session.receive(listShare('r1', [], { requestId: i }));
    expect(spam.port.failures.map((f) => f.message)).toEqual([expect.stringMatching(new RegExp(`^more than ${MAX_WAITING_INDEX_REQUESTS} listShare`))]);
    spam.session.tunnelClosed();

    // The window: INDEX_WINDOW + 1 batches before any ack.
    const { port, session } = w.tunnel('window');
    session.receive(listShare('r1', []));
    await eventually('indexWanted', () => port.of('indexWanted')[0]);
    for (let seq = 0; seq <= INDEX_WINDOW; seq++) session.receive(batch('r1', seq, { upserts: [entry(`/w${seq}.pdf`)] }));
    expect(port.failures.map((f) => f.message)).toEqual([`more than ${INDEX_WINDOW} index batches unacknowledged`]);
  });

  test('a batch over the per-share limit refuses the share (index_limit), drops it, acks, and keeps the tunnel', async () => {
    const w = await world({ entriesPerShare: 150 });
    const { port, session } = w.tunnel();
    await listAndSend(w, port, session, files(100));
    expect((await w.index.getShare('alice-docs'))?.entries).toBe(100);
    session.receive(batch('r1', 1, { upserts: files(100, 'more') }));
    // A batch in flight behind the refused one is acknowledged and dropped.
    session.receive(batch('r1', 2, { upserts: [entry('/late.pdf')] }));
    await eventually('ack 2', () => port.of('indexAck').find((m) => m.seq === 2));
    await w.sync.settled();
    expect(port.of('indexRefused')).toEqual([expect.objectContaining({ routeId: 'r1', code: 'index_limit' })]);
    expect(await w.index.getShare('alice-docs')).toBeNull();
    expect(port.failures).toEqual([]);

    // The tunnel's other share still lists.
    await listAndSend(w, port, session, files(10), 'r2', 3);
    expect((await w.index.getShare('alice-pics'))?.entries).toBe(10);
  });

  test('a summary over the per-share limit is refused at once; the account limit holds across shares', async () => {
    const w = await world({ entriesPerShare: 100, entriesPerAccount: 150 });
    const { port, session } = w.tunnel();
    session.receive(listShare('r1', files(101)));
    await eventually('refusal', () => port.of('indexRefused')[0]);
    expect(port.of('indexRefused')[0]).toMatchObject({ code: 'index_limit', message: expect.stringMatching(/at most 100 files/) });
    expect(port.of('indexWanted')).toEqual([]);

    await listAndSend(w, port, session, files(100), 'r2');
    const next = w.tunnel('tunnel-2');
    await listAndSend(w, next.port, next.session, files(100, 'other'));
    await w.sync.settled();
    expect(next.port.of('indexRefused')).toEqual([expect.objectContaining({ routeId: 'r1', code: 'index_limit' })]);
    expect(await w.index.getShare('alice-docs')).toBeNull();
    expect((await w.index.getShare('alice-pics'))?.entries).toBe(100);
  });

  test('--search off refuses listings (forbidden), and a reload to off refuses and drops listed shares', async () => {
    const w = await world({ search: 'off' });
    const { port, session } = w.tunnel();
    session.receive(listShare('r1', files(3)));
    await eventually('refusal', () => port.of('indexRefused')[0]);
    expect(port.of('indexRefused')[0]).toMatchObject({ code: 'forbidden' });

    w.settings.search = 'members';
    await listAndSend(w, port, session, files(3), 'r2');
    w.settings.search = 'off';
    w.sync.settingsChanged();
    await w.sync.settled();
    expect(port.of('indexRefused').map((m) => [m.routeId, m.code])).toEqual([['r1', 'forbidden'], ['r2', 'forbidden']]);
    expect(await w.index.getShare('alice-pics')).toBeNull();
    expect(port.failures).toEqual([]);
  });

  test('lifecycle: a lost tunnel leaves its share offline with its files; unlistShare and unregisterRoute remove it', async () => {
    const w = await world();
    const first = w.tunnel();
    await listAndSend(w, first.port, first.session, files(5));
    first.session.tunnelClosed();
    await w.sync.settled();
    expect(await w.index.getShare('alice-docs')).toMatchObject({ online: false, entries: 5 });

    const second = w.tunnel('tunnel-2');
    second.session.receive(listShare('r1', files(5)));
    expect((await eventually('indexWanted', () => second.port.of('indexWanted')[0])).buckets).toEqual([]);
    await w.sync.settled();
    expect(await w.index.getShare('alice-docs')).toMatchObject({ online: true, entries: 5 });
    second.session.receive({ type: 'unlistShare', routeId: 'r1' });
    await second.session.idle();
    await w.sync.settled();
    expect(await w.index.getShare('alice-docs')).toBeNull();

    await listAndSend(w, second.port, second.session, files(2), 'r2');
    second.port.routes.delete('r2');
    second.session.routeWithdrawn('r2');
    // A batch that was on its way is late, not hostile: acknowledged, dropped.
    second.session.receive(batch('r2', second.port.of('indexAck').length, { upserts: [entry('/late.pdf')] }));
    await second.session.idle();
    await w.sync.settled();
    expect(await w.index.getShare('alice-pics')).toBeNull();
    expect(second.port.failures).toEqual([]);
  });

  test('a name moved to a newer tunnel of the account stays online, whatever the old tunnel does after', async () => {
    const w = await world();
    const old = w.tunnel('old');
    await listAndSend(w, old.port, old.session, files(5));
    // The registry gives the name to the new tunnel: the old one loses the route first…
    old.port.routes.delete('r1');
    old.session.routeTakenAway('r1', 'replaced');
    // …then the new tunnel lists it (routeRegistered went out after the replacement).
    const fresh = w.tunnel('new');
    fresh.session.receive(listShare('r1', files(5)));
    await eventually('indexWanted', () => fresh.port.of('indexWanted')[0]);
    // The old tunnel's late listShare and its end (heartbeat timeout) change nothing.
    old.session.receive(listShare('r1', files(5)));
    await old.session.idle();
    old.session.tunnelClosed();
    await w.sync.settled();
    expect(await w.index.getShare('alice-docs')).toMatchObject({ online: true, entries: 5 });
    expect(old.port.failures).toEqual([]);
  });

  test('udns name release drops the listed share with its files (foreign-key cascade)', async () => {
    const w = await world();
    const { port, session } = w.tunnel();
    await listAndSend(w, port, session, files(5));
    await w.store.releaseName(w.alice, 'alice-docs');
    expect(await w.index.getShare('alice-docs')).toBeNull();
    expect((await w.index.search({ words: ['report'], includeOffline: true, limit: 10, offset: 0, nowMs: Date.now() })).total).toBe(0);
    port.routes.delete('r1');
    session.routeTakenAway('r1', 'not_found');
    session.tunnelClosed();
    await w.sync.settled();
    expect(await w.index.getShare('alice-docs')).toBeNull();
  });

  test('expiry: an expired listing is refused, the sweep drops expired shares', async () => {
    const w = await world();
    const { port, session } = w.tunnel();
    session.receive(listShare('r1', files(2), { expiresAt: Date.now() - 1000 }));
    await eventually('refusal', () => port.of('indexRefused')[0]);
    expect(port.of('indexRefused')[0]).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/expired/) });

    const expiresAt = Date.now() + 3_600_000;
    session.receive(listShare('r2', files(2), { expiresAt }));
    await eventually('indexWanted', () => port.of('indexWanted').find((m) => m.routeId === 'r2'));
    await w.sync.settled();
    expect(await w.sync.sweepExpired(expiresAt - 1)).toBe(0);
    expect(await w.sync.sweepExpired(expiresAt)).toBe(1);
    expect(await w.index.getShare('alice-pics')).toBeNull();
  });

  test('a listed share leaves the index when it expires, while its tunnel lives', async () => {
    const w = await world();
    const { port, session } = w.tunnel();
    session.receive(listShare('r1', files(2), { expiresAt: Date.now() + 300 }));
    await eventually('indexWanted', () => port.of('indexWanted')[0]);
    await eventually('the expiry refusal', () => port.of('indexRefused')[0]);
    expect(port.of('indexRefused')[0]).toMatchObject({ routeId: 'r1', code: 'bad_request', message: expect.stringMatching(/expired/) });
    await w.sync.settled();
    expect(await w.index.getShare('alice-docs')).toBeNull();
    expect(port.failures).toEqual([]);
  });

  test('unlistShare for an own route not listed on this tunnel drops what an earlier connection listed under its name', async () => {
    const w = await world();
    const old = w.tunnel('old');
    await listAndSend(w, old.port, old.session, files(3));
    old.session.tunnelClosed();
    // The folder is served again, unlisted: the agent says so.
    const fresh = w.tunnel('new');
    fresh.session.receive({ type: 'unlistShare', routeId: 'r1' });
    await fresh.session.idle();
    await w.sync.settled();
    expect(await w.index.getShare('alice-docs')).toBeNull();
    expect(fresh.port.failures).toEqual([]);
  });

  test('a database error refuses that share (internal) and drops it, is logged, and the tunnel stays', async () => {
    const w = await world();
    const { port, session } = w.tunnel();
    await listAndSend(w, port, session, files(3));
    // A real failure inside the store's transaction: inserting this file fails from now on.
    await executeSql(w.db.target, dialect === 'sqlite'
      ? `CREATE TRIGGER "diskOnFire" BEFORE INSERT ON "IndexedFile" BEGIN SELECT RAISE(ABORT, 'diskOnFire'); END;`
      : `ALTER TABLE "IndexedFile" ADD CONSTRAINT "diskOnFire" CHECK ("path" <> '/docs/new.pdf') NOT VALID`);
    session.receive(batch('r1', 1, { removes: ['/docs/report-0.pdf'], upserts: [entry('/docs/new.pdf')] }));
    await eventually('ack 1', () => port.of('indexAck').find((m) => m.seq === 1));
    await w.sync.settled();
    expect(port.of('indexRefused')).toEqual([expect.objectContaining({ routeId: 'r1', code: 'internal', message: expect.stringMatching(/try again later/) })]);
    expect(port.failures).toEqual([]);
    expect(w.errors.join('')).toContain('diskOnFire');
    expect(await w.index.getShare('alice-docs')).toBeNull();
    // The tunnel goes on: another share of it lists (no file to insert).
    session.receive(listShare('r2', []));
    expect((await eventually('indexWanted', () => port.of('indexWanted').find((m) => m.routeId === 'r2'))).buckets).toEqual([]);
  });

  test('an edge starting marks every share offline', async () => {
    const w = await world();
    const { port, session } = w.tunnel();
    await listAndSend(w, port, session, files(2));
    const restarted = new IndexSync(w.index, w.settings, quiet);
    cleanups.push(() => restarted.close());
    await restarted.start();
    expect(await w.index.getShare('alice-docs')).toMatchObject({ online: false, entries: 2 });
  });

  test('the update rate holds acks back: a tunnel over its burst waits at least its debt', async () => {
    const rate = 1000;
    const w = await world({ ratePerTunnel: rate, ratePerAccount: 100_000, entriesPerShare: 5000 });
    const { port, session } = w.tunnel();
    const entries = files(3000);
    const started = performance.now();
    await listAndSend(w, port, session, entries);
    const elapsed = performance.now() - started;
    expect(await w.index.getShare('alice-docs')).toMatchObject({ entries: 3000 });
    // listShare, then 30 batches of 100 (the first resets the wanted buckets), less the burst.
    const cost = LIST_SHARE_COST + port.of('indexWanted')[0]!.buckets.length + 30 * 101;
    const debtMs = ((cost - rate * INDEX_BURST_SECONDS) / rate) * 1000;
    expect(debtMs).toBeGreaterThan(3000);
    // A lower bound only: a slow machine makes it longer, never shorter.
    expect(elapsed).toBeGreaterThanOrEqual(debtMs - 50);
  }, 30_000);
});
