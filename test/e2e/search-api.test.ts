import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SearchResponse } from '../../protocol/search-api.js';
import { entry, seedSearchIndex, type SearchSeed } from '../helpers/search-seed.js';
import { findPostgresBinaries, POSTGRES_MISSING, startPostgresBackend, type TestBackend } from '../helpers/test-databases.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

const DAY = 24 * 3600_000;
const NOW = Date.now();
const SHA = 'ab'.repeat(32);

/**
 * Three members: alice (online, reachable: direct), bob (online, behind a firewall, a password
 * share), carol (offline). Names chosen so the ranking is visible: the exact name, a name
 * that starts with the word, a word inside a name, the word only in the folder.
 */
async function seed(edge: TestEdge, databaseUrl?: string): Promise<SearchSeed> {
  return seedSearchIndex({ dataDir: edge.dataDir, databaseUrl }, [
    {
      owner: 'alice', label: 'alice-docs', reachable: true,
      files: [
        entry('/report.pdf', 2_000_000, NOW - 30 * DAY, 'application/pdf', SHA),
        entry('/2024/2024_연말보고서_최종.hwp', 345_678, NOW - 2 * DAY, 'application/x-hwp'),
        entry('/report/notes.txt', 1_000, NOW - DAY, 'text/plain'),
        entry('/여행 사진/beach day.jpg', 3_500_000, NOW - 3 * DAY, 'image/jpeg'),
      ],
    },
    {
      owner: 'bob', label: 'bob-vault', locked: true, reachable: false,
      files: [
        entry('/reports-2023.pdf', 50_000_000, NOW - 300 * DAY, 'application/pdf'),
        entry('/reports-2025.pdf', 60_000_000, NOW - 10 * DAY, 'application/pdf'),
      ],
    },
    {
      owner: 'carol', label: 'carol-old', online: false,
      files: [entry('/reports-2026.pdf', 70_000_000, NOW - DAY, 'application/pdf')],
    },
  ]);
}

async function get(edge: TestEdge, query: string, token?: string): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(`${edge.serverUrl}/api/v1/search?${query}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  return { status: response.status, body: await response.json(), headers: response.headers };
}

/** How many searches reached the store (the router logs one debug line after each). */
function storeSearches(edge: TestEdge): number {
  return edge.logs().split('\n').filter((line) => line.includes('"component":"search"') && line.includes('"msg":"search"')).length;
}

describe('GET /api/v1/search on the real edge, SQLite store seeded through the real SearchIndex', () => {
  let edge: TestEdge;
  let data: SearchSeed;
  let alice: string;

  beforeAll(async () => {
    edge = await startTestEdge();
    data = await seed(edge);
    alice = data.tokens.get('alice')!;
  });
  afterAll(async () => {
    await data?.close();
    await edge?.close();
  });

  test('members (the default): no token 401, a wrong token 401, a member gets hits with every field', async () => {
    expect(await get(edge, 'q=report')).toMatchObject({ status: 401, body: { error: { code: 'unauthorized', message: expect.stringMatching(/for members/) } } });
    expect(await get(edge, 'q=report', 'udns_wrongwrongwrongwrongwrongwrongwrong')).toMatchObject({ status: 401 });
    const { status, body, headers } = await get(edge, 'q=report.pdf', alice);
    expect(status).toBe(200);
    expect(headers.get('cache-control')).toBe('no-store');
    const port = edge.edge.httpPort;
    expect(body.hits[0]).toEqual({
      name: 'report.pdf', folder: '/', path: '/report.pdf', size: 2_000_000, modified: new Date(NOW - 30 * DAY).toISOString(), type: 'application/pdf',
      owner: 'alice', share: 'alice-docs', locked: false, online: true, via: 'direct', sha256: SHA, price: null, trust: { score: null, ratings: 0, disputesLost: 0 },
      url: `http://alice-docs.localhost:${port}/report.pdf`, score: expect.any(Number),
    });
    expect(body).toMatchObject({ words: ['report.pdf'], truncated: false, limit: 20, offset: 0, offlineHidden: false });
  });

  sharedSearchTests(() => ({ edge, alice }));

  test('malformed queries: 400 naming the problem, and the store is never asked', async () => {
    const before = storeSearches(edge);
    const cases: Array<[string, RegExp]> = [
      ['', /q is required/],
      ['q=', /q is empty/],
      [`q=${'x'.repeat(257)}`, /longer than 256 characters/],
      [`q=${'a '.repeat(17)}`, /more than 16 words/],
      ['q=a&minSize=lots', /minSize must be bytes or a size/],
      ['q=a&limit=101', /limit must be a whole number from 1 to 100/],
      ['q=a&type=movie', /type must be one of/],
      ['q=a&sort=size', /unknown parameter sort/],
      ['q=a&q=b', /give q at most once/],
      ['q=a%00', /control characters/],
      ['q[x]=1', /unknown parameter q\[x\]/],
    ];
    for (const [query, message] of cases) {
      const answer = await get(edge, query, alice);
      expect(answer.status, query).toBe(400);
      expect(answer.body.error, query).toEqual({ code: 'bad_request', message: expect.stringMatching(message) });
    }
    expect(storeSearches(edge)).toBe(before);
    // A request line of 64 KiB: refused before the router (or by it), never a crash.
    const huge = await fetch(`${edge.serverUrl}/api/v1/search?q=${'y'.repeat(64 * 1024)}`, { headers: { authorization: `Bearer ${alice}` } }).then((answer) => answer.status, () => 'closed');
    expect([400, 414, 431, 'closed']).toContain(huge);
    expect(storeSearches(edge)).toBe(before);
    expect((await get(edge, 'q=report', alice)).status).toBe(200);
  });

  test('--search-offline hide leaves offline members out and says so; show brings them back (live on reload)', async () => {
    edge.edge.applyConfig({ ...edge.edge.config, searchOffline: 'hide' });
    const hidden = (await get(edge, 'q=reports', alice)).body as SearchResponse;
    expect(hidden.offlineHidden).toBe(true);
    expect(hidden.hits.map((hit) => hit.share)).not.toContain('carol-old');
    expect(hidden.total).toBe(2);
    edge.edge.applyConfig({ ...edge.edge.config, searchOffline: 'show' });
    expect(((await get(edge, 'q=reports', alice)).body as SearchResponse).hits.map((hit) => hit.share)).toContain('carol-old');
  });

  test('--search public: anyone, throttled per network (429 with Retry-After); a wrong token is still 401', async () => {
    edge.edge.applyConfig({ ...edge.edge.config, search: 'public' });
    try {
      // Without a token, udns get cannot have a ticket: direct and push are for members.
      expect(await get(edge, 'q=report.pdf')).toMatchObject({ status: 200, body: { hits: [expect.objectContaining({ share: 'alice-docs', via: 'relay' })] } });
      expect((await get(edge, 'q=report', 'udns_wrongwrongwrongwrongwrongwrongwrong')).status).toBe(401);
      // A member is not counted against the anonymous allowance.
      const started = Date.now();
      let answer = await get(edge, 'q=report');
      let anonymous = 2;
      while (answer.status === 200 && anonymous < 100) {
        answer = await get(edge, 'q=report');
        anonymous++;
      }
      // The burst of 30, plus one more for every refill interval (2 s) the loop took on a busy machine.
      expect(anonymous).toBeGreaterThanOrEqual(31);
      expect(anonymous).toBeLessThanOrEqual(31 + Math.floor((Date.now() - started) / 2_000));
      expect(answer.status).toBe(429);
      expect(answer.body.error).toEqual({ code: 'rate_limited', message: expect.stringMatching(/too many searches from your network/) });
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await get(edge, 'q=report', alice)).status).toBe(200);
    } finally {
      edge.edge.applyConfig({ ...edge.edge.config, search: 'members' });
    }
  });

  test('--search off: the API answers 403 with the reason, the page 404, the landing page stops linking it', async () => {
    expect(await (await fetch(`${edge.serverUrl}/`)).text()).toContain('<a href="/search">');
    edge.edge.applyConfig({ ...edge.edge.config, search: 'off' });
    try {
      expect(await (await fetch(`${edge.serverUrl}/`)).text()).not.toContain('/search');
      expect(await get(edge, 'q=report', alice)).toMatchObject({ status: 403, body: { error: { code: 'forbidden', message: expect.stringMatching(/search is turned off on this edge/) } } });
      const page = await fetch(`${edge.serverUrl}/search?q=report`);
      expect(page.status).toBe(404);
      expect(await page.text()).toContain('does not offer search');
    } finally {
      edge.edge.applyConfig({ ...edge.edge.config, search: 'members' });
    }
  });
});

const binaries = findPostgresBinaries();

describe('GET /api/v1/search on an edge with --database-url postgres://… (private cluster)', () => {
  let backend: TestBackend | undefined;
  let edge: TestEdge;
  let data: SearchSeed;
  let alice: string;

  beforeAll(async () => {
    if (!binaries) return;
    backend = await startPostgresBackend(binaries);
    const database = await backend.fresh();
    edge = await startTestEdge({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
    data = await seed(edge, database.databaseUrl);
    alice = data.tokens.get('alice')!;
  });
  afterAll(async () => {
    await data?.close();
    await edge?.close();
    await backend?.cleanup();
  });

  test('PostgreSQL is installed (CI must not skip the tests below)', (ctx) => {
    if (!binaries && !process.env.CI) ctx.skip(POSTGRES_MISSING);
    expect(binaries, POSTGRES_MISSING).not.toBeNull();
  });

  if (binaries) sharedSearchTests(() => ({ edge, alice }));
});

/** What the ranking, words and filters must give on either database. */
function sharedSearchTests(target: () => { edge: TestEdge; alice: string }): void {
  test('ranking: name matches first, then online owners, then newer files; the folder-only match last', async () => {
    const { body } = await get(target().edge, 'q=report', target().alice) as { body: SearchResponse };
    const order = body.hits.map((hit) => `${hit.share}${hit.path}`);
    expect(order[0]).toBe('alice-docs/report.pdf');
    // "reports-…" names: bob's (online) before carol's (offline) though carol's is newer; bob's newer first.
    expect(order.indexOf('bob-vault/reports-2025.pdf')).toBeLessThan(order.indexOf('bob-vault/reports-2023.pdf'));
    expect(order.indexOf('bob-vault/reports-2023.pdf')).toBeLessThan(order.indexOf('carol-old/reports-2026.pdf'));
    expect(order.at(-1)).toBe('alice-docs/report/notes.txt');
    expect(body.total).toBe(5);
    const scores = body.hits.map((hit) => hit.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    expect(body.hits.find((hit) => hit.share === 'bob-vault')).toMatchObject({ locked: true, online: true, via: 'push/relay' });
    expect(body.hits.find((hit) => hit.share === 'carol-old')).toMatchObject({ online: false, via: null });
  });

  test('Korean by a part of a word, with the URL encoded segment by segment', async () => {
    const { body } = await get(target().edge, `q=${encodeURIComponent('보고서')}`, target().alice) as { body: SearchResponse };
    expect(body.hits.map((hit) => hit.name)).toEqual(['2024_연말보고서_최종.hwp']);
    expect(body.hits[0]!.folder).toBe('/2024/');
    expect(body.hits[0]!.url).toBe(`http://alice-docs.localhost:${target().edge.edge.httpPort}/2024/${encodeURIComponent('2024_연말보고서_최종.hwp')}`);
    const folder = await get(target().edge, `q=${encodeURIComponent('여행 beach')}`, target().alice);
    expect(folder.body.hits.map((hit: { url: string }) => hit.url)).toEqual([`http://alice-docs.localhost:${target().edge.edge.httpPort}/${encodeURIComponent('여행 사진')}/${encodeURIComponent('beach day.jpg')}`]);
  });

  test('filters: type, sizes with units, owner; paging with total', async () => {
    const names = async (query: string): Promise<string[]> => ((await get(target().edge, query, target().alice)).body as SearchResponse).hits.map((hit) => hit.name);
    expect(await names('q=report&type=pdf&minSize=55M')).toEqual(['reports-2025.pdf', 'reports-2026.pdf']);
    expect(await names('q=report&maxSize=1.9M')).toEqual(['notes.txt']);
    expect(await names('q=report&owner=bob')).toEqual(['reports-2025.pdf', 'reports-2023.pdf']);
    expect(await names('q=2024&type=image')).toEqual([]);
    const page = (await get(target().edge, 'q=report&limit=2&offset=2', target().alice)).body as SearchResponse;
    expect(page).toMatchObject({ total: 5, limit: 2, offset: 2 });
    expect(page.hits).toHaveLength(2);
  });

}
