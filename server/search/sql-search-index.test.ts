import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { INDEX_BUCKETS, bucketOf, entryDigest, type IndexEntry } from '../../protocol/index-sync.js';
import { openAccountStore, storeDatabase, type AccountStore } from '../accounts/account-store.js';
import { generateFiles } from '../../bench/search/file-names.js';
import { findPostgresBinaries, queryRows, rejection, requirePostgresInCi, sqliteBackend, startPostgresBackend, type TestBackend, type TestDatabase } from '../../test/helpers/test-databases.js';
import type { SearchIndex, SearchQuery } from './search-index.js';
import { searchKey, splitSharePath } from './search-text.js';
import { SEARCH_CANDIDATES, createSearchIndex } from './sql-search-index.js';

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);

const NOW = Date.UTC(2026, 11, 2);
const LIMITS = { entriesPerShare: 1000, entriesPerAccount: 5000 };

function entry(path: string, extra: Partial<IndexEntry> = {}): IndexEntry {
  return { path, size: 1000, mtime: NOW - 86_400_000, type: 'application/octet-stream', ...extra };
}

function query(words: string[], extra: Partial<SearchQuery> = {}): SearchQuery {
  return { words, includeOffline: true, limit: 50, offset: 0, nowMs: NOW, ...extra };
}

/** Bucket digests as the agent computes them (protocol/index-sync.ts). */
function expectedDigests(entries: IndexEntry[]): Uint32Array {
  const digests = new Uint32Array(INDEX_BUCKETS);
  for (const e of entries) digests[bucketOf(e.path)] = (digests[bucketOf(e.path)]! ^ entryDigest(e)) >>> 0;
  return digests;
}

describe.each(pgBin === null ? (['sqlite'] as const) : (['sqlite', 'postgresql'] as const))('members index on %s', (dialect) => {
  let backend: TestBackend;
  const open: AccountStore[] = [];
  beforeAll(async () => {
    backend = dialect === 'sqlite' ? sqliteBackend() : await startPostgresBackend(pgBin!);
  }, 60_000);
  afterEach(async () => {
    await Promise.all(open.splice(0).map((store) => store.close()));
  });
  afterAll(() => backend?.cleanup());

  /** alice owns `alice-docs` and `alice-pics`, bob owns `bob`; an index on the same database. */
  async function setUp(): Promise<{ store: AccountStore; index: SearchIndex; db: TestDatabase; alice: number; bob: number }> {
    const db = await backend.fresh();
    const store = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    open.push(store);
    const alice = (await store.createAccount('alice')).account.id;
    const bob = (await store.createAccount('bob')).account.id;
    await store.claimName(alice, 'alice-docs');
    await store.claimName(alice, 'alice-pics');
    await store.claimName(bob, 'bob');
    return { store, index: createSearchIndex(store), db, alice, bob };
  }

  async function paths(index: SearchIndex, words: string[], extra: Partial<SearchQuery> = {}): Promise<string[]> {
    return (await index.search(query(words, extra))).hits.map((hit) => `${hit.label}:${hit.path}`);
  }

  test('a listed share takes batches; digests, entries and results follow the stored rows', async () => {
    const { index, alice } = await setUp();
    expect(await index.openShare({ label: 'alice-docs', accountId: alice, locked: false, expiresAt: null })).toEqual(new Uint32Array(INDEX_BUCKETS));
    const files = [
      entry('/2024_연말보고서_최종.hwp', { type: 'application/x-hwp', sha256: 'a'.repeat(64) }),
      entry('/work/budget.xlsx'),
      entry('/work/notes.txt', { type: 'text/plain' }),
    ];
    expect(await index.applyBatch('alice-docs', { reset: [], upserts: files, removes: [] }, LIMITS)).toEqual({ ok: true, entries: 3 });
    expect(await index.getShare('alice-docs')).toEqual({ label: 'alice-docs', accountId: alice, locked: false, expiresAt: null, online: true, reachable: null, entries: 3 });
    expect(await index.openShare({ label: 'alice-docs', accountId: alice, locked: true, expiresAt: null })).toEqual(expectedDigests(files));

    const [hit] = (await index.search(query(['보고서']))).hits;
    expect(hit).toEqual({
      label: 'alice-docs', owner: 'alice', path: '/2024_연말보고서_최종.hwp', size: 1000, mtime: NOW - 86_400_000, type: 'application/x-hwp',
      sha256: 'a'.repeat(64), price: null, trust: { score: null, ratings: 0, disputesLost: 0 }, locked: true, online: true, reachable: null, score: expect.any(Number),
    });

    // An update, a remove, and a reset of one bucket whose entry the agent re-sends changed.
    const changed = entry('/work/budget.xlsx', { size: 5, mtime: NOW });
    const reset = bucketOf('/work/notes.txt');
    expect(await index.applyBatch('alice-docs', { reset: [reset], upserts: [changed], removes: ['/2024_연말보고서_최종.hwp', '/never/was.txt'] }, LIMITS))
      .toEqual({ ok: true, entries: 1 });
    expect(await paths(index, ['보고서'])).toEqual([]);
    expect(await paths(index, ['notes'])).toEqual([]);
    expect((await index.search(query(['budget']))).hits.map((h) => h.size)).toEqual([5]);
    expect(await index.openShare({ label: 'alice-docs', accountId: alice, locked: false, expiresAt: null })).toEqual(expectedDigests([changed]));
    expect((await index.getShare('alice-docs'))?.entries).toBe(1);
  });

  test('the same path twice in a batch keeps the last; a reset of every bucket empties the share', async () => {
    const { index, alice } = await setUp();
    await index.openShare({ label: 'alice-docs', accountId: alice, locked: false, expiresAt: null });
    const last = entry('/a.txt', { size: 2 });
    expect(await index.applyBatch('alice-docs', { reset: [], upserts: [entry('/a.txt', { size: 1 }), last], removes: [] }, LIMITS)).toEqual({ ok: true, entries: 1 });
    expect(await index.openShare({ label: 'alice-docs', accountId: alice, locked: false, expiresAt: null })).toEqual(expectedDigests([last]));
    const all = Array.from({ length: INDEX_BUCKETS }, (_, i) => i);
    expect(await index.applyBatch('alice-docs', { reset: all, upserts: [], removes: [] }, LIMITS)).toEqual({ ok: true, entries: 0 });
    expect(await paths(index, ['a'])).toEqual([]);
  });

  test('a batch over the per-share or per-account limit changes nothing', async () => {
    const { index, alice } = await setUp();
    await index.openShare({ label: 'alice-docs', accountId: alice, locked: false, expiresAt: null });
    await index.openShare({ label: 'alice-pics', accountId: alice, locked: false, expiresAt: null });
    const limits = { entriesPerShare: 3, entriesPerAccount: 5 };
    const first = [entry('/one.txt'), entry('/two.txt'), entry('/three.txt')];
    expect(await index.applyBatch('alice-docs', { reset: [], upserts: first, removes: [] }, limits)).toEqual({ ok: true, entries: 3 });
    const before = await index.openShare({ label: 'alice-docs', accountId: alice, locked: false, expiresAt: null });

    const over = await index.applyBatch('alice-docs', { reset: [], upserts: [entry('/four.txt')], removes: [] }, limits);
    expect(over).toEqual({ ok: false, code: 'index_limit', message: expect.stringContaining('more than the edge\'s limit of 3') });
    // Replacing one file by another stays within the limit; updating existing ones too.
    expect(await index.applyBatch('alice-docs', { reset: [], upserts: [entry('/four.txt'), entry('/two.txt', { size: 9 })], removes: ['/one.txt'] }, limits)).toEqual({ ok: true, entries: 3 });
    const after = await index.openShare({ label: 'alice-docs', accountId: alice, locked: false, expiresAt: null });
    expect(after).not.toEqual(before);

    expect(await index.applyBatch('alice-pics', { reset: [], upserts: [entry('/p1.jpg'), entry('/p2.jpg')], removes: [] }, limits)).toEqual({ ok: true, entries: 2 });
    const account = await index.applyBatch('alice-pics', { reset: [], upserts: [entry('/p3.jpg')], removes: [] }, limits);
    expect(account).toEqual({ ok: false, code: 'index_limit', message: expect.stringContaining('account') });
    expect(await paths(index, ['p3'])).toEqual([]);
    expect((await index.getShare('alice-pics'))?.entries).toBe(2);
    expect(await index.openShare({ label: 'alice-docs', accountId: alice, locked: false, expiresAt: null })).toEqual(after);
    // A share over a lowered limit may still shrink.
    expect(await index.applyBatch('alice-docs', { reset: [], upserts: [], removes: ['/four.txt'] }, { entriesPerShare: 1, entriesPerAccount: 1 })).toEqual({ ok: true, entries: 2 });
  });

  test('listing needs the name; batches need a listed share; malformed input is refused and changes nothing', async () => {
    const { index, alice, bob } = await setUp();
    expect((await rejection(index.openShare({ label: 'bob', accountId: alice, locked: false, expiresAt: null }))).code).toBe('forbidden');
    expect((await rejection(index.openShare({ label: 'nobody', accountId: alice, locked: false, expiresAt: null }))).code).toBe('forbidden');
    expect((await rejection(index.applyBatch('bob', { reset: [], upserts: [entry('/x.txt')], removes: [] }, LIMITS))).code).toBe('not_found');
    await index.openShare({ label: 'bob', accountId: bob, locked: false, expiresAt: null });
    await index.applyBatch('bob', { reset: [], upserts: [entry('/keep.txt')], removes: [] }, LIMITS);

    const malformed: unknown[] = [
      { reset: [], upserts: [entry('/../etc/passwd')], removes: [] },
      { reset: [], upserts: [entry('relative.txt')], removes: [] },
      { reset: [], upserts: [{ ...entry('/x.txt'), size: -1 }], removes: [] },
      { reset: [], upserts: [{ ...entry('/x.txt'), type: 'not a type' }], removes: [] },
      { reset: [], upserts: [{ ...entry('/x.txt'), extra: 1 }], removes: [] },
      { reset: [4096], upserts: [], removes: [] },
      { reset: [], upserts: [], removes: ['/a\u0000b'] },
      { reset: [], upserts: [entry(`/${'x'.repeat(1100)}`)], removes: [] },
      { reset: [], upserts: Array.from({ length: 501 }, (_, i) => entry(`/f${i}`)), removes: [] },
      { reset: [0], upserts: [entry('/new.txt')], removes: 'all' },
    ];
    for (const batch of malformed) {
      expect((await rejection(index.applyBatch('bob', batch as never, LIMITS))).code).toBe('bad_request');
    }
    expect(await paths(index, ['keep'])).toEqual(['bob:/keep.txt']);
    expect((await index.getShare('bob'))?.entries).toBe(1);

    const badQueries: Partial<SearchQuery>[] = [
      { limit: 0 }, { limit: 10_000 }, { offset: -1 }, { kind: 'spaceship' as never }, { minSize: 1.5 },
      { words: Array.from({ length: 17 }, () => 'a') }, { words: ['x'.repeat(101)] }, { words: ['!!!', '…'] }, { words: [] },
    ];
    for (const bad of badQueries) expect((await rejection(index.search(query(['keep'], bad)))).code).toBe('bad_request');
  });

  test('releasing the name, stopping or expiring removes the share and its files', async () => {
    const { store, index, db, alice, bob } = await setUp();
    await index.openShare({ label: 'alice-docs', accountId: alice, locked: false, expiresAt: null });
    await index.openShare({ label: 'alice-pics', accountId: alice, locked: false, expiresAt: NOW + 1000 });
    await index.openShare({ label: 'bob', accountId: bob, locked: false, expiresAt: null });
    await index.applyBatch('alice-docs', { reset: [], upserts: [entry('/docs/report.pdf'), entry('/docs/보고서.hwp')], removes: [] }, LIMITS);
    await index.applyBatch('alice-pics', { reset: [], upserts: [entry('/report-photo.jpg')], removes: [] }, LIMITS);
    await index.applyBatch('bob', { reset: [], upserts: [entry('/bob-report.txt')], removes: [] }, LIMITS);
    expect((await index.search(query(['report']))).total).toBe(3);

    await store.releaseName(alice, 'alice-docs');
    expect(await index.getShare('alice-docs')).toBeNull();
    expect(await paths(index, ['report'])).toEqual(['alice-pics:/report-photo.jpg', 'bob:/bob-report.txt'].sort((a, b) => (a < b ? 1 : -1)));
    expect(await paths(index, ['보고서'])).toEqual([]);

    // Expired shares drop out of results at once and out of the tables on removeExpired.
    expect(await paths(index, ['photo'], { nowMs: NOW + 1000 })).toEqual([]);
    expect(await index.removeExpired(NOW)).toBe(0);
    expect(await index.removeExpired(NOW + 1000)).toBe(1);
    expect(await index.getShare('alice-pics')).toBeNull();

    await index.removeShare('bob');
    await index.removeShare('bob');
    expect((await index.search(query(['report']))).total).toBe(0);
    const leftovers = dialect === 'sqlite'
      ? await queryRows(db.target, 'SELECT (SELECT count(*) FROM "IndexedFile") + (SELECT count(*) FROM "IndexedFileTerms")')
      : await queryRows(db.target, 'SELECT count(*)::int FROM "IndexedFile"');
    expect(Number(leftovers[0]![0])).toBe(0);
  });

  test('offline and unreachable shares are marked; offline ones can be left out', async () => {
    const { index, alice, bob } = await setUp();
    await index.openShare({ label: 'alice-docs', accountId: alice, locked: false, expiresAt: null });
    await index.openShare({ label: 'bob', accountId: bob, locked: false, expiresAt: null });
    await index.applyBatch('alice-docs', { reset: [], upserts: [entry('/plan.pdf')], removes: [] }, LIMITS);
    await index.applyBatch('bob', { reset: [], upserts: [entry('/plan.pdf')], removes: [] }, LIMITS);
    await index.setOnline('bob', false);
    await index.setReachable('alice-docs', true);
    const { hits } = await index.search(query(['plan']));
    expect(hits.map((h) => [h.label, h.online, h.reachable])).toEqual([['alice-docs', true, true], ['bob', false, null]]);
    expect(await paths(index, ['plan'], { includeOffline: false })).toEqual(['alice-docs:/plan.pdf']);
    await index.setReachable('alice-docs', null);
    await index.markAllOffline();
    expect(await paths(index, ['plan'], { includeOffline: false })).toEqual([]);
    expect((await index.getShare('alice-docs'))?.reachable).toBeNull();
    // A reconnect (listShare) brings it back online with its files.
    await index.openShare({ label: 'bob', accountId: bob, locked: false, expiresAt: null });
    expect(await paths(index, ['plan'], { includeOffline: false })).toEqual(['bob:/plan.pdf']);
  });

  test('filters: kind, size range, owner', async () => {
    const { index, alice, bob } = await setUp();
    await index.openShare({ label: 'alice-docs', accountId: alice, locked: false, expiresAt: null });
    await index.openShare({ label: 'bob', accountId: bob, locked: false, expiresAt: null });
    await index.applyBatch('alice-docs', {
      reset: [], removes: [],
      upserts: [
        entry('/trip/trip.pdf', { type: 'application/pdf', size: 10 }),
        entry('/trip/trip.jpg', { type: 'image/jpeg', size: 2_000_000 }),
        entry('/trip/trip.mp4', { type: 'video/mp4', size: 6_000_000_000 }),
        entry('/trip/여행.hwp', { size: 300 }),
      ],
    }, LIMITS);
    await index.applyBatch('bob', { reset: [], upserts: [entry('/trip.mp3', { type: 'audio/mpeg', size: 50 })], removes: [] }, LIMITS);
    expect(await paths(index, ['trip'], { kind: 'image' })).toEqual(['alice-docs:/trip/trip.jpg']);
    expect(await paths(index, ['trip'], { kind: 'audio' })).toEqual(['bob:/trip.mp3']);
    expect(await paths(index, ['여행'], { kind: 'document' })).toEqual(['alice-docs:/trip/여행.hwp']);
    expect((await paths(index, ['trip'], { minSize: 50, maxSize: 2_000_000 })).sort()).toEqual(['alice-docs:/trip/trip.jpg', 'alice-docs:/trip/여행.hwp', 'bob:/trip.mp3']);
    expect(await paths(index, ['trip'], { minSize: 5_000_000_000 })).toEqual(['alice-docs:/trip/trip.mp4']);
    expect(await paths(index, ['trip'], { owner: 'bob' })).toEqual(['bob:/trip.mp3']);
    expect(await paths(index, ['trip'], { owner: 'carol' })).toEqual([]);
    // Every word must match, in the name or in the folder.
    expect((await paths(index, ['trip', 'pdf']))).toEqual(['alice-docs:/trip/trip.pdf']);
    expect((await paths(index, ['여행', 'trip']))).toEqual(['alice-docs:/trip/여행.hwp']);
    // Pages: total counts every match.
    const page = await index.search(query(['trip'], { limit: 2, offset: 2 }));
    expect(page.hits).toHaveLength(2);
    expect(page.total).toBe(5);
    expect((await index.search(query(['trip'], { limit: 2, offset: 10 })))).toEqual({ hits: [], total: 5 });
  });

  test('ranking: whole name, then word start, then inside the name, then folder only; online before offline; newer first', async () => {
    const { index, alice, bob } = await setUp();
    await index.openShare({ label: 'alice-docs', accountId: alice, locked: false, expiresAt: null });
    await index.openShare({ label: 'bob', accountId: bob, locked: false, expiresAt: null });
    const old = NOW - 365 * 86_400_000;
    await index.applyBatch('alice-docs', {
      reset: [], removes: [],
      upserts: [
        entry('/report/summary.txt', { mtime: NOW - 1000 }), // folder only
        entry('/annual-report-2024.pdf', { mtime: old }), // word start
        entry('/myreport.pdf', { mtime: NOW - 1000 }), // inside a word
        entry('/Report.PDF', { mtime: old }), // the whole name
        entry('/report final.pdf', { mtime: NOW - 5000 }), // word start, newer than the annual one
      ],
    }, LIMITS);
    await index.applyBatch('bob', { reset: [], upserts: [entry('/report.txt', { mtime: NOW - 10 })], removes: [] }, LIMITS);
    await index.setOnline('bob', false);
    const { hits } = await index.search(query(['REPORT']));
    expect(hits.map((h) => `${h.label}:${h.path}`)).toEqual([
      'alice-docs:/Report.PDF',
      'bob:/report.txt',
      'alice-docs:/report final.pdf',
      'alice-docs:/annual-report-2024.pdf',
      'alice-docs:/myreport.pdf',
      'alice-docs:/report/summary.txt',
    ]);
    const scores = hits.map((h) => h.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    await index.setOnline('bob', true);
    expect((await paths(index, ['report'])).slice(0, 2)).toEqual(['bob:/report.txt', 'alice-docs:/Report.PDF']);
  });

  test('Korean, Japanese, Chinese and mixed names are found by any part of two or more characters, and by one character', async () => {
    const { index, alice } = await setUp();
    await index.openShare({ label: 'alice-docs', accountId: alice, locked: false, expiresAt: null });
    const files = generateFiles(240, 10);
    await index.applyBatch('alice-docs', { reset: [], upserts: files.map((f) => entry(f.path, { type: f.type, size: f.size, mtime: f.mtime })), removes: [] }, LIMITS);
    const keys = files.map((f) => {
      const { name, folder } = splitSharePath(f.path);
      return { path: f.path, name: searchKey(name), folder: searchKey(folder) };
    });
    // Queries: every substring of 1 to 4 characters of every word of every name (as typed:
    // also the NFC form of decomposed Hangul and the half-width form of full-width letters).
    const queries = new Set<string>();
    for (const k of keys) {
      for (const word of k.name.split(' ')) {
        const chars = Array.from(word);
        for (let length = 1; length <= 4; length++) for (let i = 0; i + length <= chars.length; i++) queries.add(chars.slice(i, i + length).join(''));
      }
    }
    let expected = 0;
    let found = 0;
    let wrong = 0;
    const misses: string[] = [];
    const twoOrMore = [...queries].filter((q) => Array.from(q).length >= 2);
    const sample = [...twoOrMore.filter((_, i) => i % 3 === 0), ...[...queries].filter((q) => Array.from(q).length === 1 && !/[a-z0-9]/.test(q)).slice(0, 30)];
    for (const q of sample) {
      const want = new Set(keys.filter((k) => k.name.includes(q) || k.folder.includes(q)).map((k) => k.path));
      const got = new Set<string>();
      for (let offset = 0; ; offset += 200) {
        const page = await index.search(query([q], { limit: 200, offset }));
        for (const hit of page.hits) got.add(hit.path);
        if (page.hits.length < 200) break;
      }
      expected += want.size;
      for (const path of want) if (got.has(path)) found++; else misses.push(`${q} → ${path}`);
      for (const path of got) if (!want.has(path)) wrong++;
    }
    console.log(`${dialect} recall: ${sample.length} queries, ${found}/${expected} expected hits found, ${wrong} unexpected`);
    expect(misses.slice(0, 10)).toEqual([]);
    expect(found).toBe(expected);
    expect(wrong).toBe(0);
    expect(sample.length).toBeGreaterThan(500);
    // The issue's own example, typed in the decomposed form a Mac produces.
    await index.applyBatch('alice-docs', { reset: [], upserts: [entry('/2024_연말보고서_최종.hwp')], removes: [] }, LIMITS);
    expect(await paths(index, ['보고서'.normalize('NFD')])).toContain('alice-docs:/2024_연말보고서_최종.hwp');
    expect(await paths(index, ['말보'])).toEqual(['alice-docs:/2024_연말보고서_최종.hwp']);
  }, 120_000);

  test('a query matching more files than one search ranks says so; filters apply before the cut', async () => {
    const { index, alice, bob } = await setUp();
    await index.openShare({ label: 'alice-docs', accountId: alice, locked: false, expiresAt: null });
    await index.openShare({ label: 'bob', accountId: bob, locked: false, expiresAt: null });
    await index.applyBatch('bob', { reset: [], upserts: [entry('/scan/scan-0001.pdf', { type: 'application/pdf' })], removes: [] }, LIMITS);
    const limits = { entriesPerShare: 10_000, entriesPerAccount: 10_000 };
    const files = Array.from({ length: SEARCH_CANDIDATES + 10 }, (_, i) => entry(`/scans/scan-${i}.jpg`, { type: 'image/jpeg', mtime: NOW - i }));
    for (let i = 0; i < files.length; i += 500) await index.applyBatch('alice-docs', { reset: [], upserts: files.slice(i, i + 500), removes: [] }, limits);
    const broad = await index.search(query(['scan'], { limit: 5 }));
    expect(broad.truncated).toBe(true);
    expect(broad.total).toBe(SEARCH_CANDIDATES + 1);
    expect(broad.hits).toHaveLength(5);
    const scores = broad.hits.map((h) => h.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    // The owner's and the type's filters narrow before the cut, so bob's one file is found.
    expect(await index.search(query(['scan'], { owner: 'bob' }))).toMatchObject({ total: 1, hits: [{ label: 'bob', path: '/scan/scan-0001.pdf' }] });
    expect((await index.search(query(['scan'], { kind: 'pdf' }))).hits.map((h) => h.label)).toEqual(['bob']);
    const narrow = await index.search(query(['scan', '4999']));
    expect(narrow.truncated).toBeUndefined();
    expect(narrow.hits.map((h) => h.path)).toEqual(['/scans/scan-4999.jpg']);
  }, 120_000);

  test('a paid file keeps its price and Merkle root; hits carry the price and the seller\'s trust; the escrow looks files up', async () => {
    const { store, index, alice, bob } = await setUp();
    await index.openShare({ label: 'alice-docs', accountId: alice, locked: false, expiresAt: null });
    await index.openShare({ label: 'bob', accountId: bob, locked: false, expiresAt: NOW + 1000 });
    const root = 'b'.repeat(64);
    const paid = entry('/talks/keynote.pdf', { type: 'application/pdf', sha256: 'a'.repeat(64), price: 50, merkleRoot: root });
    expect(await index.applyBatch('alice-docs', { reset: [], upserts: [paid, entry('/talks/free.pdf', { type: 'application/pdf' })], removes: [] }, LIMITS)).toEqual({ ok: true, entries: 2 });
    await index.applyBatch('bob', { reset: [], upserts: [entry('/talks/bob.pdf', { price: 7, sha256: 'c'.repeat(64), merkleRoot: 'd'.repeat(64) })], removes: [] }, LIMITS);
    // The digest covers the price: the agent's digests match what the edge stored.
    expect(await index.openShare({ label: 'alice-docs', accountId: alice, locked: false, expiresAt: null }))
      .toEqual(expectedDigests([paid, entry('/talks/free.pdf', { type: 'application/pdf' })]));

    await storeDatabase(store).prisma.trustScore.create({ data: { accountId: alice, score: 4.26, ratings: 12, weight: 9.5, disputesLost: 1, updatedAt: new Date() } });
    const hits = (await index.search(query(['talks']))).hits;
    const byPath = new Map(hits.map((hit) => [hit.path, hit]));
    expect(byPath.get('/talks/keynote.pdf')).toMatchObject({ price: 50, trust: { score: 4.3, ratings: 12, disputesLost: 1 } });
    expect(byPath.get('/talks/free.pdf')).toMatchObject({ price: null, trust: { score: 4.3, ratings: 12, disputesLost: 1 } });
    expect(byPath.get('/talks/bob.pdf')).toMatchObject({ price: 7, trust: { score: null, ratings: 0, disputesLost: 0 } });

    expect(await index.lookupFile('alice-docs', '/talks/keynote.pdf', NOW)).toEqual({ ownerId: alice, online: true, size: 1000, sha256: 'a'.repeat(64), price: 50, merkleRoot: root });
    expect(await index.lookupFile('alice-docs', '/talks/free.pdf', NOW)).toEqual({ ownerId: alice, online: true, size: 1000, sha256: null, price: null, merkleRoot: null });
    expect(await index.lookupFile('alice-docs', '/talks/none.pdf', NOW)).toBeNull();
    expect(await index.lookupFile('nobody', '/talks/keynote.pdf', NOW)).toBeNull();
    expect(await index.lookupFile('alice-docs', 'not a path', NOW)).toBeNull();
    // An expired share sells nothing.
    expect(await index.lookupFile('bob', '/talks/bob.pdf', NOW)).toMatchObject({ ownerId: bob, price: 7 });
    expect(await index.lookupFile('bob', '/talks/bob.pdf', NOW + 1000)).toBeNull();

    // The price changes with the next sync of the entry, and a file that stops being paid is free.
    await index.applyBatch('alice-docs', { reset: [], upserts: [entry('/talks/keynote.pdf', { type: 'application/pdf', sha256: 'a'.repeat(64) })], removes: [] }, LIMITS);
    expect(await index.lookupFile('alice-docs', '/talks/keynote.pdf', NOW)).toMatchObject({ price: null, merkleRoot: null });

    expect((await index.sharesOf(alice)).map((share) => share.label)).toEqual(['alice-docs']);
    expect(await index.sharesOf(999)).toEqual([]);
  });

  test('a file whose name has no letters or digits is stored and harmless', async () => {
    const { index, alice } = await setUp();
    await index.openShare({ label: 'alice-docs', accountId: alice, locked: false, expiresAt: null });
    expect(await index.applyBatch('alice-docs', { reset: [], upserts: [entry('/!!!'), entry('/~/—.txt')], removes: [] }, LIMITS)).toEqual({ ok: true, entries: 2 });
    expect(await paths(index, ['txt'])).toEqual(['alice-docs:/~/—.txt']);
    // Quotes, operators and backslashes in a query are text, not syntax.
    for (const word of [`"a"`, `a' & 'b`, 'NOT', 'a*', 'a\\b', 'OR']) expect((await index.search(query([word]))).hits).toEqual([]);
  });
});
