import { afterEach, expect, test } from 'vitest';
import {
  IndexBatch, MAX_CONTROL_FRAME_BYTES, MAX_INDEX_BATCH_ENTRIES, UdnsError, bucketOf,
  type ControlChannel, type EdgeMessage, type AgentMessage, type IndexEntry,
} from '../../protocol/index.js';
import { eventually } from '../../test/helpers/eventually.js';
import { IndexSyncEdge } from '../../bench/search/index-sync-edge.js';
import { createAgentLogger } from '../agent-logger.js';
import { BatchBuilder } from './index-batches.js';
import { IndexSyncClient, type SyncedShare } from './index-sync-client.js';
import { ShareIndex } from './share-index.js';

const logger = createAgentLogger('silent');
const edges: IndexSyncEdge[] = [];
afterEach(async () => {
  for (const edge of edges.splice(0)) await edge.close();
});

/** A share whose index the test fills directly (the sync only reads the index). */
class TestShare implements SyncedShare {
  readonly index = new ShareIndex();
  readonly locked = false;
  readonly expiresAtMs = null;
  refused: UdnsError | null = null;
  isClosed = false;
  readonly refusals: UdnsError[] = [];
  ready(): Promise<void> {
    return Promise.resolve();
  }
  refuse(error: UdnsError): void {
    if (this.refused !== null) return;
    this.refused = error;
    this.refusals.push(error);
  }
}

function entry(path: string, extra: Partial<IndexEntry> = {}): IndexEntry {
  return { path, size: path.length, mtime: 1_700_000_000_000, type: 'text/plain', ...extra };
}

function fill(share: TestShare, count: number, prefix = '/file-'): void {
  for (let i = 0; i < count; i++) share.index.upsert(entry(`${prefix}${i}.txt`));
}

/** An agent-side client on a real control channel to the harness edge. */
async function connect(edge: IndexSyncEdge, flushDelayMs = 20): Promise<{ client: IndexSyncClient; channel: ControlChannel<typeof EdgeMessage, AgentMessage> }> {
  const channel = await edge.connect();
  const client = new IndexSyncClient((message) => channel.send(message), logger, flushDelayMs);
  channel.on('message', (message: EdgeMessage) => {
    if (message.type === 'indexWanted' || message.type === 'indexAck' || message.type === 'indexRefused') client.handle(message);
  });
  channel.on('close', () => client.close());
  return { client, channel };
}

function newEdge(): IndexSyncEdge {
  const edge = new IndexSyncEdge();
  edges.push(edge);
  return edge;
}

function storedMatches(edge: IndexSyncEdge, name: string, share: TestShare): true | undefined {
  const store = edge.stores.get(name);
  if (store === undefined || store.size !== share.index.size) return undefined;
  for (const path of share.index.paths()) if (JSON.stringify(store.get(path)) !== JSON.stringify(share.index.get(path))) return undefined;
  return true;
}

const batches = (edge: IndexSyncEdge): IndexBatch[] => edge.received.filter((message): message is IndexBatch => message.type === 'indexBatch');

test('first sync sends every bucket in full, each reset once, within the window; the edge ends up with the same index', async () => {
  const edge = newEdge();
  const share = new TestShare();
  fill(share, 3000);
  const { client } = await connect(edge);
  client.list('r1', share);
  await eventually('the edge has the index', () => storedMatches(edge, 'r1', share));
  const sent = batches(edge);
  const resets = sent.flatMap((batch) => batch.reset);
  expect(new Set(resets).size).toBe(resets.length);
  expect(sent.every((batch) => batch.upserts.length <= MAX_INDEX_BATCH_ENTRIES)).toBe(true);
  expect(edge.current.maxUnacked).toBeLessThanOrEqual(4);
  expect(edge.violations).toEqual([]);
});

test('the window: with acknowledgements held, exactly INDEX_WINDOW batches go out, and the rest after the acks', async () => {
  const edge = newEdge();
  edge.holdAcks = true;
  const share = new TestShare();
  fill(share, 5000);
  const { client } = await connect(edge);
  client.list('r1', share);
  await eventually('four batches', () => (batches(edge).length === 4 ? true : undefined));
  expect(client.unacknowledged).toBe(4);
  // More can only come with an ack: the next message after the release must be batch 4.
  edge.holdAcks = false;
  edge.current.releaseAcks();
  await eventually('the edge has the index', () => storedMatches(edge, 'r1', share));
  expect(batches(edge).map((batch) => batch.seq)).toEqual(batches(edge).map((_, seq) => seq));
  expect(edge.current.maxUnacked).toBe(4);
  expect(edge.violations).toEqual([]);
});

test('a reconnect with an unchanged index costs the summary alone; with changes, only the differing buckets go', async () => {
  const edge = newEdge();
  const share = new TestShare();
  fill(share, 2000);
  let { client, channel } = await connect(edge);
  client.list('r1', share);
  await eventually('first sync', () => storedMatches(edge, 'r1', share));
  channel.close();

  const before = edge.received.length;
  ({ client, channel } = await connect(edge));
  client.list('r1', share);
  await eventually('the summary', () => (edge.received.length > before ? true : undefined));
  // Let any batch that would come arrive: an answer to a message sent after it proves the order.
  share.index.upsert(entry('/probe.txt'));
  await eventually('the probe', () => storedMatches(edge, 'r1', share));
  const unchanged = edge.received.slice(before);
  expect(unchanged[0]!.type).toBe('listShare');
  const probeBatches = unchanged.filter((message) => message.type === 'indexBatch') as IndexBatch[];
  expect(probeBatches).toHaveLength(1);
  expect(probeBatches[0]!.upserts.map((upsert) => upsert.path)).toEqual(['/probe.txt']);
  expect(probeBatches[0]!.reset).toEqual([]);
  channel.close();

  // Ten files change while offline.
  for (let i = 0; i < 10; i++) share.index.upsert(entry(`/file-${i * 7}.txt`, { sha256: 'a'.repeat(64) }));
  const mark = edge.received.length;
  ({ client, channel } = await connect(edge));
  client.list('r1', share);
  await eventually('resync', () => storedMatches(edge, 'r1', share));
  const resent = (edge.received.slice(mark).filter((message) => message.type === 'indexBatch') as IndexBatch[]);
  expect(resent.flatMap((batch) => batch.reset).length).toBeLessThanOrEqual(10);
  expect(resent.flatMap((batch) => batch.upserts).length).toBeLessThan(100);
  expect(edge.violations).toEqual([]);
});

test('changes made while buckets are being sent are not lost', async () => {
  const edge = newEdge();
  edge.holdAcks = true;
  const share = new TestShare();
  fill(share, 4000);
  const { client } = await connect(edge);
  client.list('r1', share);
  await eventually('four batches', () => (batches(edge).length === 4 ? true : undefined));
  // Change files in buckets already sent, in the bucket being sent and in buckets not sent yet.
  for (let i = 0; i < 4000; i += 37) share.index.upsert(entry(`/file-${i}.txt`, { sha256: 'b'.repeat(64) }));
  for (let i = 1; i < 4000; i += 101) share.index.remove(`/file-${i}.txt`);
  for (let i = 0; i < 50; i++) share.index.upsert(entry(`/new-${i}.txt`));
  edge.holdAcks = false;
  edge.current.releaseAcks();
  await eventually('the edge has the index', () => storedMatches(edge, 'r1', share));
  expect(edge.violations).toEqual([]);
});

test('live deltas are batched: 1,200 changes at once go as a few batches, removes included', async () => {
  const edge = newEdge();
  const share = new TestShare();
  fill(share, 100);
  const { client } = await connect(edge, 50);
  client.list('r1', share);
  await eventually('first sync', () => storedMatches(edge, 'r1', share));
  const mark = batches(edge).length;
  for (let i = 0; i < 1200; i++) share.index.upsert(entry(`/more/${i}.txt`));
  for (let i = 0; i < 100; i++) share.index.remove(`/file-${i}.txt`);
  await eventually('the deltas', () => storedMatches(edge, 'r1', share));
  const deltas = batches(edge).slice(mark);
  expect(deltas.length).toBeGreaterThanOrEqual(3);
  expect(deltas.length).toBeLessThanOrEqual(6);
  expect(deltas.every((batch) => batch.reset.length === 0)).toBe(true);
  expect(deltas.flatMap((batch) => batch.removes)).toHaveLength(100);
});

test('indexRefused stops that share only, reported once; its batches in flight are still acknowledged', async () => {
  const edge = newEdge();
  edge.holdAcks = true;
  const refusedShare = new TestShare();
  const otherShare = new TestShare();
  fill(refusedShare, 3000, '/r-');
  fill(otherShare, 50, '/o-');
  const { client } = await connect(edge);
  client.list('r1', refusedShare);
  client.list('r2', otherShare);
  await eventually('four batches', () => (batches(edge).length === 4 ? true : undefined));
  edge.current.refuse('r1', 'index_limit', 'a listed share may hold at most 10 files');
  await eventually('the refusal', () => (refusedShare.refused !== null ? true : undefined));
  edge.holdAcks = false;
  edge.current.releaseAcks();
  await eventually('the other share', () => storedMatches(edge, 'r2', otherShare));
  refusedShare.index.upsert(entry('/r-after.txt'));
  otherShare.index.upsert(entry('/o-after.txt'));
  await eventually('the other share again', () => storedMatches(edge, 'r2', otherShare));
  expect(refusedShare.refusals).toHaveLength(1);
  expect(refusedShare.refused).toMatchObject({ code: 'index_limit' });
  expect(batches(edge).filter((batch) => batch.routeId === 'r1' && batch.seq >= 4)).toEqual([]);
  expect(edge.violations).toEqual([]);
});

test('unlist tells the edge, which drops the share; a share never listed sends nothing', async () => {
  const edge = newEdge();
  const share = new TestShare();
  fill(share, 10);
  const { client } = await connect(edge);
  client.list('r1', share);
  await eventually('first sync', () => storedMatches(edge, 'r1', share));
  expect(client.unlistAll()).toBe(true);
  await eventually('the unlist', () => (edge.stores.has('r1') ? undefined : true));
  client.unlist('r1');
  expect(edge.received.filter((message) => message.type === 'unlistShare')).toHaveLength(1);
  expect(edge.violations).toEqual([]);
});

test('500 entries with 1 KiB paths are cut into batches below the control frame limit', () => {
  const builder = (): BatchBuilder => new BatchBuilder('a-route-id-of-some-length-0123456789', 7);
  const entries = Array.from({ length: 500 }, (_, i) => entry(`/${String(i).padStart(4, '0')}${'한'.repeat(339)}`, { sha256: 'c'.repeat(64) }));
  expect(Buffer.byteLength(entries[0]!.path)).toBeLessThanOrEqual(1024);
  expect(Buffer.byteLength(entries[0]!.path)).toBeGreaterThan(1000);
  const cut: IndexBatch[] = [];
  let current = builder();
  for (const item of entries) {
    if (current.addUpsert(item)) continue;
    cut.push(current.build());
    current = builder();
    expect(current.addUpsert(item)).toBe(true);
  }
  cut.push(current.build());
  expect(cut.length).toBeGreaterThan(8);
  for (const batch of cut) {
    expect(Buffer.byteLength(`${JSON.stringify(batch)}\n`)).toBeLessThanOrEqual(MAX_CONTROL_FRAME_BYTES);
    expect(IndexBatch.safeParse(batch).success).toBe(true);
  }
  expect(cut.flatMap((batch) => batch.upserts)).toHaveLength(500);
  // Small entries: the count limit cuts.
  const small = builder();
  let added = 0;
  while (small.addRemove(`/f${added}`)) added++;
  expect(added).toBe(MAX_INDEX_BATCH_ENTRIES);
  // Every bucket reset in one batch still fits.
  const resets = builder();
  for (let bucket = 0; bucket < 4096; bucket++) expect(resets.addReset(bucket)).toBe(true);
  expect(Buffer.byteLength(JSON.stringify(resets.build()))).toBeLessThan(MAX_CONTROL_FRAME_BYTES);
});

test('a change after the first sync is sent even when a flush fell due while the buckets were being sent (a price edit reached the edge only by chance)', async () => {
  const sent: AgentMessage[] = [];
  const client = new IndexSyncClient((message) => sent.push(message), logger, 1);
  const share = new TestShare();
  share.index.upsert(entry('/a.pdf'));
  client.list('r1', share);
  await eventually('the summary', () => (sent.some((message) => message.type === 'listShare') ? true : undefined));
  // Hashed while the edge has not answered yet: a delta is due once the flush delay passes.
  share.index.upsert(entry('/a.pdf', { sha256: 'a'.repeat(64) }));
  await new Promise((resolve) => setTimeout(resolve, 20));
  // The edge wants the bucket: it goes in full (the pending delta with it), then the sync is live.
  client.handle({ type: 'indexWanted', requestId: 0, routeId: 'r1', buckets: [bucketOf('/a.pdf')] });
  const first = sent.filter((message): message is IndexBatch => message.type === 'indexBatch');
  expect(first).toHaveLength(1);
  client.handle({ type: 'indexAck', routeId: 'r1', seq: first[0]!.seq });
  // Now the owner reprices the file.
  share.index.upsert(entry('/a.pdf', { sha256: 'a'.repeat(64), price: 70, merkleRoot: 'b'.repeat(64) }));
  const delta = await eventually('the delta sent', () => sent.filter((message): message is IndexBatch => message.type === 'indexBatch')[1]);
  expect(delta.upserts).toEqual([share.index.get('/a.pdf')]);
  client.close();
});
