import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import {
  INDEX_BUCKETS, INDEX_WINDOW, MAX_INDEX_BATCH_ENTRIES, MAX_INDEX_PATH_BYTES, bucketDigestsHex, bucketOf, entryDigest,
  type IndexEntry,
} from '../../protocol/index.js';
import { parseEdgeConfig } from '../../server/config.js';
import { openAccountStore, type AccountStore } from '../../server/accounts/account-store.js';
import { INDEX_BURST_SECONDS } from '../../server/search/index-sync.js';
import { LIST_SHARE_COST, MAX_WAITING_INDEX_REQUESTS } from '../../server/search/index-sync-session.js';
import type { SearchIndex } from '../../server/search/search-index.js';
import { createSearchIndex } from '../../server/search/sql-search-index.js';
import { eventually } from '../helpers/eventually.js';
import { HostileMuxAgent } from '../helpers/hostile-agent.js';
import { queryRows } from '../helpers/test-databases.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { visit } from '../helpers/visitor.js';

/*
 * The index sync against a hostile agent on the real edge (issue 10): an agent with a valid
 * token lists a share, then sends what a buggy or malicious agent would. After each attack the
 * edge is up and serving another member's agent, logged no error of its own, and the index
 * holds exactly what the share had before (offline when the attack ended the tunnel).
 */

const PER_SHARE = 50;
const RATE_PER_TUNNEL = 1000;

let edge: TestEdge;
let origin: Origin;
let good: Agent;
let goodOffline = 0;
let store: AccountStore;
let index: SearchIndex;
let accounts = 0;

beforeAll(async () => {
  edge = await startTestEdge({ indexMaxEntriesPerShare: PER_SHARE, indexMaxEntriesPerAccount: 2 * PER_SHARE, indexRatePerTunnel: RATE_PER_TUNNEL, indexRatePerAccount: 2 * RATE_PER_TUNNEL });
  origin = await startHttpOrigin();
  good = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'goodpc' }]);
  good.on('offline', () => { goodOffline++; });
  // A second connection to the edge's database, to look at the index as the search API would.
  store = await openAccountStore({ dataDir: edge.dataDir });
  index = createSearchIndex(store);
});
afterAll(async () => {
  good?.stop();
  await store?.close();
  await origin?.close();
  await edge?.close();
});

const NOW = Date.now();
const file = (path: string, extra: Partial<IndexEntry> = {}): IndexEntry => ({ path, size: 1234, mtime: NOW - 60_000, type: 'application/pdf', ...extra });
const FILES = [file('/tax/2024_연말보고서_최종.hwp', { type: 'application/x-hwp' }), file('/tax/receipts.pdf'), file('/music/song.mp3', { type: 'audio/mpeg' })];

function summary(entries: IndexEntry[]): { entries: number; digests: string } {
  const digests = new Uint32Array(INDEX_BUCKETS);
  for (const e of entries) digests[bucketOf(e.path)] = (digests[bucketOf(e.path)]! ^ entryDigest(e)) >>> 0;
  return { entries: entries.length, digests: bucketDigestsHex(digests) };
}

/** What the index holds of a share: its row and its files' paths, sorted. */
async function stored(label: string): Promise<{ online: boolean; entries: number; paths: string[] } | null> {
  const share = await index.getShare(label);
  if (share === null) return null;
  const rows = await queryRows({ dialect: 'sqlite', file: path.join(edge.dataDir, 'udns.db') },
    `SELECT f."path" FROM "IndexedFile" f JOIN "ListedShare" s ON s."id" = f."shareId" WHERE s."label" = '${label}' ORDER BY f."path"`);
  return { online: share.online, entries: share.entries, paths: rows.map((row) => String(row[0])).sort() };
}

/** A fresh account's hostile agent with one listed share of FILES, acknowledged; `seq` is the next batch number. */
async function listedShare(): Promise<{ agent: HostileMuxAgent; label: string; routeId: string; seq: number }> {
  const name = `m${++accounts}`;
  const token = await edge.createAccount(name);
  const agent = await HostileMuxAgent.connect(edge.serverUrl, token);
  await agent.hello();
  const label = `${name}-docs`;
  const registered = await agent.register(1, label);
  expect(registered.type).toBe('routeRegistered');
  const routeId = String(registered.routeId);
  agent.send({ type: 'listShare', requestId: 2, routeId, locked: false, summary: summary(FILES) });
  const wanted = await agent.waitFor('indexWanted');
  expect(wanted.buckets).toEqual([...new Set(FILES.map((f) => bucketOf(f.path)))].sort((a, b) => a - b));
  agent.send({ type: 'indexBatch', routeId, seq: 0, reset: wanted.buckets, upserts: FILES, removes: [] });
  await agent.waitFor('indexAck', (m) => m.seq === 0);
  expect(await stored(label)).toEqual({ online: true, entries: 3, paths: FILES.map((f) => f.path).sort() });
  return { agent, label, routeId, seq: 1 };
}

const errorsLoggedSince = (offset: number): string[] =>
  edge.logs().slice(offset).split('\n').filter((line) => /"level":(50|60)/.test(line));

/** After an attack: the good agent never noticed and still serves; the edge logged no error; the share is as it was. */
async function unharmed(logOffset: number, label: string, online: boolean): Promise<void> {
  expect((await visit(edge, 'goodpc', '/echo')).status).toBe(200);
  expect(goodOffline).toBe(0);
  expect(errorsLoggedSince(logOffset)).toEqual([]);
  await eventually(`${label} ${online ? 'online' : 'offline'} with its 3 files`, async () => {
    const now = await stored(label);
    return now?.online === online ? now : undefined;
  });
  expect(await stored(label)).toEqual({ online, entries: 3, paths: FILES.map((f) => f.path).sort() });
}

describe('a hostile agent against the index sync', () => {
  const batch = (routeId: string, seq: number, upserts: unknown[], removes: unknown[] = []) => ({ type: 'indexBatch', routeId, seq, reset: [], upserts, removes });
  const violations: Array<[string, (routeId: string, seq: number) => unknown[]]> = [
    ['a malformed entry (negative size, bad media type)', (r, s) => [batch(r, s, [{ path: '/x.pdf', size: -1, mtime: 0, type: 'not a type' }])]],
    ['an entry with an extra field', (r, s) => [batch(r, s, [{ ...file('/x.pdf'), owner: 'admin' }])]],
    ['path traversal', (r, s) => [batch(r, s, [file('/../x')])]],
    ['a removal by traversal', (r, s) => [batch(r, s, [], ['/tax/../../etc/passwd'])]],
    ['a relative path', (r, s) => [batch(r, s, [file('tax/receipts.pdf')])]],
    ['a NUL in a path', (r, s) => [batch(r, s, [file('/tax/a\u0000.pdf')])]],
    ['an overlong path', (r, s) => [batch(r, s, [file(`/${'a'.repeat(MAX_INDEX_PATH_BYTES)}`)])]],
    [`a batch of ${MAX_INDEX_BATCH_ENTRIES + 1} entries`, (r, s) => [batch(r, s, Array.from({ length: MAX_INDEX_BATCH_ENTRIES + 1 }, (_, i) => file(`/f/${i}`)))]],
    ['a bucket out of range', (r, s) => [{ ...batch(r, s, []), reset: [INDEX_BUCKETS] }]],
    ['a wrong seq', (r, s) => [batch(r, s + 5, [file('/new.pdf')])]],
    [`${INDEX_WINDOW + 1} batches without waiting for an ack`, (r, s) => Array.from({ length: INDEX_WINDOW + 1 }, (_, i) => batch(r, s + i, [], ['/nothing-here']))],
    ['a batch for a route it does not own', (_r, s) => [batch('0123456789abcdef', s, [file('/x.pdf')])]],
    ['a listing of a route it does not own', () => [{ type: 'listShare', requestId: 9, routeId: '0123456789abcdef', locked: false, summary: summary([]) }]],
    ['a summary of the wrong length', (r) => [{ type: 'listShare', requestId: 9, routeId: r, locked: false, summary: { entries: 1, digests: '00' } }]],
    [`${MAX_WAITING_INDEX_REQUESTS + 1} listShare without waiting for the answers`, (r) => Array.from({ length: MAX_WAITING_INDEX_REQUESTS + 1 }, (_, i) => ({ type: 'listShare', requestId: 10 + i, routeId: r, locked: false, summary: summary(FILES) }))],
    ['an index message before hello', () => []],
  ];

  for (const [name, messages] of violations) {
    test(`${name}: the tunnel ends with a protocol error, the index is unchanged, the edge serves`, async () => {
      const logOffset = edge.logs().length;
      if (name.includes('before hello')) {
        const token = await edge.createAccount(`m${++accounts}`);
        const agent = await HostileMuxAgent.connect(edge.serverUrl, token);
        agent.send({ type: 'listShare', requestId: 1, routeId: 'r', locked: false, summary: summary([]) });
        await agent.closed;
        expect((await visit(edge, 'goodpc', '/echo')).status).toBe(200);
        expect(errorsLoggedSince(logOffset)).toEqual([]);
        return;
      }
      const { agent, label, routeId, seq } = await listedShare();
      // One write: every line reaches the edge before any answer could.
      agent.write(messages(routeId, seq).map((m) => `${JSON.stringify(m)}\n`).join(''));
      const error = await agent.waitFor('error');
      expect(error.code).toBe('protocol_violation');
      await agent.closed;
      await unharmed(logOffset, label, false);
    });
  }

  test('listing beyond the per-share limit: indexRefused (index_limit), the share leaves the index, the tunnel stays', async () => {
    const logOffset = edge.logs().length;
    const { agent, label, routeId, seq } = await listedShare();
    // Over the limit by batches: refused and dropped, and a batch already on its way is acknowledged.
    const more = Array.from({ length: PER_SHARE }, (_, i) => file(`/more/${i}.pdf`));
    agent.write([batch(routeId, seq, more), batch(routeId, seq + 1, [file('/late.pdf')])].map((m) => `${JSON.stringify(m)}\n`).join(''));
    await agent.waitFor('indexAck', (m) => m.seq === seq + 1);
    expect(agent.messages.filter((m) => m.type === 'indexRefused')).toEqual([expect.objectContaining({ routeId, code: 'index_limit' })]);
    await eventually('the share dropped', async () => ((await index.getShare(label)) === null ? true : undefined));

    // Over the limit by its summary: refused at once.
    const second = await agent.register(3, `${label}-2`);
    agent.send({ type: 'listShare', requestId: 4, routeId: second.routeId, locked: false, summary: { ...summary([]), entries: PER_SHARE + 1 } });
    const refused = await agent.waitFor('indexRefused', (m) => m.routeId === second.routeId);
    expect(refused).toMatchObject({ code: 'index_limit', message: expect.stringContaining(`at most ${PER_SHARE} files`) });

    // The tunnel is still there and lists what fits.
    agent.send({ type: 'listShare', requestId: 5, routeId: second.routeId, locked: true, summary: summary([]) });
    expect((await agent.waitFor('indexWanted', (m) => m.routeId === second.routeId)).buckets).toEqual([]);
    expect(await index.getShare(`${label}-2`)).toMatchObject({ locked: true, online: true, entries: 0 });
    expect(agent.messages.filter((m) => m.type === 'error')).toEqual([]);
    expect((await visit(edge, 'goodpc', '/echo')).status).toBe(200);
    expect(errorsLoggedSince(logOffset)).toEqual([]);
    agent.destroy();
    await eventually('the share offline', async () => ((await index.getShare(`${label}-2`))?.online === false ? true : undefined));
  });

  test('a name moved to a newer tunnel of the account stays online; the old tunnel\'s late batch and its end change nothing', async () => {
    const logOffset = edge.logs().length;
    const name = `m${++accounts}`;
    const token = await edge.createAccount(name);
    const label = `${name}-docs`;
    const connect = async (): Promise<{ agent: HostileMuxAgent; routeId: string }> => {
      const agent = await HostileMuxAgent.connect(edge.serverUrl, token);
      await agent.hello();
      const registered = await agent.register(1, label);
      expect(registered.type).toBe('routeRegistered');
      return { agent, routeId: String(registered.routeId) };
    };
    const old = await connect();
    old.agent.send({ type: 'listShare', requestId: 2, routeId: old.routeId, locked: false, summary: summary(FILES) });
    const wanted = await old.agent.waitFor('indexWanted');
    old.agent.send({ type: 'indexBatch', routeId: old.routeId, seq: 0, reset: wanted.buckets, upserts: FILES, removes: [] });
    await old.agent.waitFor('indexAck', (m) => m.seq === 0);

    // The same account connects again (a new network) before the edge noticed the old tunnel die.
    const fresh = await connect();
    expect(await old.agent.waitFor('routeClosed')).toMatchObject({ routeId: old.routeId, code: 'replaced' });
    fresh.agent.send({ type: 'listShare', requestId: 2, routeId: fresh.routeId, locked: false, summary: summary(FILES) });
    expect((await fresh.agent.waitFor('indexWanted')).buckets).toEqual([]);
    // A batch the old agent had on its way, then its end.
    old.agent.send({ type: 'indexBatch', routeId: old.routeId, seq: 1, reset: [], upserts: [], removes: ['/tax/receipts.pdf'] });
    await old.agent.waitFor('indexAck', (m) => m.seq === 1);
    expect(old.agent.messages.filter((m) => m.type === 'error')).toEqual([]);
    old.agent.destroy();
    await old.agent.closed;
    await eventually('the old tunnel gone', () => (edge.edge.tunnelCount() === 2 ? true : undefined));
    await unharmed(logOffset, label, true);
    fresh.agent.destroy();
  });

  test('a reload to --search off refuses and drops listed shares and refuses new listings; the tunnels stay', async () => {
    const { agent, label, routeId } = await listedShare();
    const next = (changes: Record<string, unknown>) => parseEdgeConfig({ ...edge.edge.config, tcpPorts: '30000-30999', ...changes });
    try {
      expect(edge.edge.applyConfig(next({ search: 'off' })).applied).toEqual(['search']);
      expect(await agent.waitFor('indexRefused', (m) => m.routeId === routeId)).toMatchObject({ code: 'forbidden' });
      await eventually('the share dropped', async () => ((await index.getShare(label)) === null ? true : undefined));
      agent.send({ type: 'listShare', requestId: 3, routeId, locked: false, summary: summary(FILES) });
      await eventually('a second refusal', () => (agent.messages.filter((m) => m.type === 'indexRefused').length === 2 ? true : undefined));
      expect(await index.getShare(label)).toBeNull();
    } finally {
      edge.edge.applyConfig(next({ search: 'members' }));
    }
    agent.send({ type: 'listShare', requestId: 4, routeId, locked: false, summary: summary(FILES) });
    expect((await agent.waitFor('indexWanted', (m) => m.requestId === 4)).buckets).toHaveLength(3);
    expect(agent.messages.filter((m) => m.type === 'error')).toEqual([]);
    agent.destroy();
  });

  test('a flood of batches within the window: the acks slow to the rate, the edge answers visitors meanwhile', async () => {
    const logOffset = edge.logs().length;
    const started = performance.now();
    const { agent, label, routeId, seq } = await listedShare();
    // Removals of files that do not exist: full batches that change nothing, as fast as the window allows.
    const BATCHES = 12;
    const removes = Array.from({ length: MAX_INDEX_BATCH_ENTRIES }, (_, i) => `/nothing/${i}`);
    let sent = 0;
    let visits = 0;
    while (sent < BATCHES) {
      const acked = agent.messages.filter((m) => m.type === 'indexAck').length - 1;
      while (sent < BATCHES && sent - acked < INDEX_WINDOW) agent.send(batch(routeId, seq + sent++, [], removes));
      // Another member's visitors are answered while the flood goes on.
      expect((await visit(edge, 'goodpc', '/echo')).status).toBe(200);
      visits++;
      await agent.waitFor('indexAck', (m) => m.seq === seq + sent - INDEX_WINDOW);
    }
    await agent.waitFor('indexAck', (m) => m.seq === seq + BATCHES - 1);
    const elapsed = performance.now() - started;
    // The listing, its first batch (3 files in 3 buckets) and the flood, less the tunnel's burst
    // (5 s of its rate): the debt the acks were held back for.
    const cost = LIST_SHARE_COST + 7 + BATCHES * (1 + MAX_INDEX_BATCH_ENTRIES);
    const debtMs = ((cost - INDEX_BURST_SECONDS * RATE_PER_TUNNEL) / RATE_PER_TUNNEL) * 1000;
    expect(debtMs).toBeGreaterThan(4000);
    // A lower bound only: a slow machine makes it longer, never shorter.
    expect(elapsed).toBeGreaterThanOrEqual(debtMs - 50);
    expect(visits).toBeGreaterThan(1);
    expect(agent.messages.filter((m) => m.type === 'error' || m.type === 'indexRefused')).toEqual([]);
    agent.destroy();
    await unharmed(logOffset, label, false);
  }, 60_000);
});
