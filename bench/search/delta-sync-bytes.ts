/*
 * Bytes of the members' index sync for one large share (issue 10: "after a reconnect it must
 * not resend a 100,000-file index that did not change"). The agent's real sync client
 * (agent/index/index-sync-client.ts) talks over a real control channel on loopback sockets to
 * an edge that follows the contract (index-sync-edge.ts, stores in memory); bytes are what
 * the sockets carried. Three rounds on the same share:
 *   first      the edge knows nothing: every bucket is sent in full
 *   unchanged  a reconnect with nothing changed: the summary (4096 bucket digests) alone
 *   changed    a reconnect after N files changed while offline: the summary and those buckets
 *
 *   node dist/bench/search/delta-sync-bytes.js [files] [changed]
 */
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { createAgentLogger } from '../../agent/agent-logger.js';
import { IndexSyncClient, type SyncedShare } from '../../agent/index/index-sync-client.js';
import { ShareIndex } from '../../agent/index/share-index.js';
import { parseBucketDigests, type EdgeMessage, type IndexEntry } from '../../protocol/index.js';
import { generateFiles } from './file-names.js';
import { IndexSyncEdge } from './index-sync-edge.js';

export interface SyncRound {
  /** Agent → edge bytes (listShare, batches). */
  readonly bytesUp: number;
  /** Edge → agent bytes (indexWanted, acks). */
  readonly bytesDown: number;
  readonly batches: number;
  readonly bucketsSent: number;
  readonly ms: number;
}

export interface DeltaSyncResult {
  readonly files: number;
  readonly changed: number;
  readonly first: SyncRound;
  readonly unchanged: SyncRound;
  readonly afterChanges: SyncRound;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Runs the three rounds on a generated share of `files` files. */
export async function measureDeltaSync(files = 100_000, changed = 10, seed = 10): Promise<DeltaSyncResult> {
  const index = new ShareIndex();
  const generated = generateFiles(files, seed);
  for (const file of generated) index.upsert({ path: file.path, size: file.size, mtime: file.mtime, type: file.type, sha256: sha256(file.path) });
  const share: SyncedShare = { index, locked: false, expiresAtMs: null, refused: null, isClosed: false, ready: () => Promise.resolve(), refuse: () => {} };
  const edge = new IndexSyncEdge();
  const logger = createAgentLogger('silent');
  const round = async (): Promise<SyncRound> => {
    const started = performance.now();
    const [up, down, received] = [edge.bytesFromAgent, edge.bytesToAgent, edge.received.length];
    const channel = await edge.connect();
    const client = new IndexSyncClient((message) => channel.send(message), logger);
    channel.on('message', (message: EdgeMessage) => {
      if (message.type === 'indexWanted' || message.type === 'indexAck' || message.type === 'indexRefused') client.handle(message);
    });
    client.list('share', share);
    const wanted = parseBucketDigests(index.summary().digests);
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const store = edge.stores.get('share');
      if (client.unacknowledged > 0 || store === undefined || store.size !== index.size) continue;
      const digests = store.digests();
      if (digests.every((digest, bucket) => digest === wanted[bucket])) break;
    }
    const ms = performance.now() - started;
    channel.close();
    client.close();
    const messages = edge.received.slice(received);
    const batches = messages.filter((message) => message.type === 'indexBatch');
    if (edge.violations.length > 0) throw new Error(`the client broke the contract: ${edge.violations.join('; ')}`);
    return {
      bytesUp: edge.bytesFromAgent - up, bytesDown: edge.bytesToAgent - down, batches: batches.length,
      bucketsSent: batches.reduce((sum, batch) => sum + (batch.type === 'indexBatch' ? batch.reset.length : 0), 0), ms,
    };
  };
  try {
    const first = await round();
    const unchanged = await round();
    for (let i = 0; i < changed; i++) {
      const file = generated[Math.floor((i + 0.5) * generated.length / changed)]!;
      const entry: IndexEntry = { ...index.get(file.path)!, size: file.size + 1, mtime: file.mtime + 1000, sha256: sha256(`${file.path} changed`) };
      index.upsert(entry);
    }
    const afterChanges = await round();
    return { files, changed, first, unchanged, afterChanges };
  } finally {
    await edge.close();
  }
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** The result as a small table. */
export function formatDeltaSync(result: DeltaSyncResult): string {
  const ofFirst = (round: SyncRound): string => `${(100 * round.bytesUp / result.first.bytesUp).toFixed(2)}%`;
  const row = (label: string, round: SyncRound): string =>
    `${label.padEnd(26)} ${kib(round.bytesUp).padStart(12)} ${ofFirst(round).padStart(9)} ${kib(round.bytesDown).padStart(10)} ${String(round.batches).padStart(8)} ${String(round.bucketsSent).padStart(8)} ${`${Math.round(round.ms)} ms`.padStart(9)}`;
  return [
    `index sync of a ${result.files.toLocaleString('en')}-file share (agent → edge bytes on the control stream)`,
    `${'round'.padEnd(26)} ${'agent→edge'.padStart(12)} ${'of first'.padStart(9)} ${'edge→agent'.padStart(10)} ${'batches'.padStart(8)} ${'buckets'.padStart(8)} ${'time'.padStart(9)}`,
    row('first sync', result.first),
    row('reconnect, unchanged', result.unchanged),
    row(`reconnect, ${result.changed} files changed`, result.afterChanges),
    `reconnect after ${result.changed} changes: ${(100 * result.afterChanges.bytesUp / result.first.bytesUp).toFixed(2)}% of the first sync`,
  ].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const files = Number(process.argv[2] ?? 100_000);
  const changed = Number(process.argv[3] ?? 10);
  measureDeltaSync(files, changed).then((result) => {
    process.stdout.write(`${formatDeltaSync(result)}\n`);
  }, (error: unknown) => {
    process.stderr.write(`delta-sync-bytes: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  });
}
