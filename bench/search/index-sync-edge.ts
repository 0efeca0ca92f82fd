import net from 'node:net';
import {
  AgentMessage, ControlChannel, EdgeMessage, INDEX_BUCKETS, INDEX_WINDOW, bucketOf, differingBuckets, entryDigest, parseBucketDigests,
  type IndexEntry, type UdnsError,
} from '../../protocol/index.js';

/** One share's stored entries, also by bucket (a reset touches only its bucket). */
export class StoredShare extends Map<string, IndexEntry> {
  private readonly buckets = new Map<number, Set<string>>();

  override set(path: string, entry: IndexEntry): this {
    super.set(path, entry);
    const bucket = bucketOf(path);
    let paths = this.buckets.get(bucket);
    if (paths === undefined) this.buckets.set(bucket, paths = new Set());
    paths.add(path);
    return this;
  }

  override delete(path: string): boolean {
    if (!super.delete(path)) return false;
    this.buckets.get(bucketOf(path))?.delete(path);
    return true;
  }

  resetBucket(bucket: number): void {
    for (const path of this.buckets.get(bucket) ?? []) super.delete(path);
    this.buckets.delete(bucket);
  }

  digests(): Uint32Array {
    const digests = new Uint32Array(INDEX_BUCKETS);
    for (const entry of this.values()) digests[bucketOf(entry.path)]! ^= entryDigest(entry);
    return digests;
  }
}

/**
 * The edge's side of the index sync (protocol/index-sync.ts), written from the contract alone,
 * for testing and measuring the agent's client over a real control channel on real sockets
 * (the real edge's side is server/search/index-sync-session.ts, with a database): it stores what
 * batches say, answers listShare with the buckets whose digests differ, enforces the sequence
 * and the window, and records every breach of the contract in `violations` instead of
 * throwing. Stores outlive connections (keyed by share name), as the edge's database does.
 */
export class IndexSyncEdge {
  /** Stored entries per share name. */
  readonly stores = new Map<string, StoredShare>();
  readonly violations: string[] = [];
  /** Every message received, in order, on every connection. */
  readonly received: AgentMessage[] = [];
  /** Hold acknowledgements (flow control) until releaseAcks(). */
  holdAcks = false;
  private readonly edgeSockets: net.Socket[] = [];
  private readonly agentSockets: net.Socket[] = [];
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private connection: EdgeConnection | null = null;
  /** Route id → share name, as the edge's registration gave it. */
  readonly names = new Map<string, string>();

  /** Listens on port 0 and returns the agent side's channel, connected. */
  async connect(): Promise<ControlChannel<typeof EdgeMessage, AgentMessage>> {
    this.server ??= await new Promise<net.Server>((resolve) => {
      const server = net.createServer((socket) => {
        this.sockets.add(socket);
        socket.on('error', () => {});
        this.edgeSockets.push(socket);
        this.connection = new EdgeConnection(this, new ControlChannel<typeof AgentMessage, EdgeMessage>(socket, AgentMessage));
      });
      server.listen(0, '127.0.0.1', () => resolve(server));
    });
    const port = (this.server.address() as net.AddressInfo).port;
    const before = this.connection;
    const socket = net.connect(port, '127.0.0.1');
    this.sockets.add(socket);
    this.agentSockets.push(socket);
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    const agentSide = new ControlChannel<typeof EdgeMessage, AgentMessage>(socket, EdgeMessage);
    await waitFor(() => this.connection !== before);
    return agentSide;
  }

  /** Bytes the agent sent, on every connection so far (its control lines, newlines included). */
  get bytesFromAgent(): number {
    return this.edgeSockets.reduce((sum, socket) => sum + socket.bytesRead, 0);
  }

  /** Bytes the edge sent the agent, on every connection so far. */
  get bytesToAgent(): number {
    return this.agentSockets.reduce((sum, socket) => sum + socket.bytesRead, 0);
  }

  /** The current connection (the last one accepted). */
  get current(): EdgeConnection {
    if (this.connection === null) throw new Error('no connection');
    return this.connection;
  }

  store(name: string): StoredShare {
    let store = this.stores.get(name);
    if (store === undefined) this.stores.set(name, store = new StoredShare());
    return store;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)));
  }
}

/** One agent connection: its sequence, its window, its listed shares. */
export class EdgeConnection {
  private expectedSeq = 0;
  private readonly unacked: number[] = [];
  /** Most batches ever unacknowledged at once on this connection. */
  maxUnacked = 0;
  readonly listed = new Set<string>();
  /** Refused routes: their batches still in flight are acknowledged and dropped. */
  readonly refused = new Set<string>();
  readonly errors: UdnsError[] = [];

  constructor(private readonly edge: IndexSyncEdge, readonly channel: ControlChannel<typeof AgentMessage, EdgeMessage>) {
    channel.on('error', (error: UdnsError) => {
      this.errors.push(error);
      edge.violations.push(`channel: ${error.message}`);
    });
    channel.on('message', (message: AgentMessage) => this.receive(message));
  }

  /** Acknowledges every batch held back. */
  releaseAcks(): void {
    for (const seq of this.unacked.splice(0)) this.ack(seq);
  }

  refuse(routeId: string, code: 'index_limit' | 'forbidden', message: string): void {
    this.listed.delete(routeId);
    this.refused.add(routeId);
    this.channel.send({ type: 'indexRefused', routeId, code, message });
  }

  get unacknowledged(): number {
    return this.unacked.length;
  }

  private nameOf(routeId: string): string {
    return this.edge.names.get(routeId) ?? routeId;
  }

  private ack(seq: number): void {
    const routeId = this.pendingRoutes.get(seq);
    this.pendingRoutes.delete(seq);
    this.channel.send({ type: 'indexAck', routeId: routeId ?? '', seq });
  }

  private readonly pendingRoutes = new Map<number, string>();

  private receive(message: AgentMessage): void {
    this.edge.received.push(message);
    switch (message.type) {
      case 'listShare': {
        this.listed.add(message.routeId);
        const store = this.edge.store(this.nameOf(message.routeId));
        const buckets = differingBuckets(parseBucketDigests(message.summary.digests), store.digests());
        this.channel.send({ type: 'indexWanted', requestId: message.requestId, routeId: message.routeId, buckets });
        break;
      }
      case 'indexBatch': {
        if (message.seq !== this.expectedSeq) this.edge.violations.push(`seq ${message.seq}, expected ${this.expectedSeq}`);
        this.expectedSeq = message.seq + 1;
        this.unacked.push(message.seq);
        this.pendingRoutes.set(message.seq, message.routeId);
        this.maxUnacked = Math.max(this.maxUnacked, this.unacked.length);
        if (this.unacked.length > INDEX_WINDOW) this.edge.violations.push(`${this.unacked.length} batches unacknowledged`);
        if (!this.listed.has(message.routeId)) {
          if (!this.refused.has(message.routeId)) this.edge.violations.push(`batch ${message.seq} for ${message.routeId}, not listed`);
          if (!this.edge.holdAcks) this.ack(this.unacked.pop()!);
          return;
        }
        const store = this.edge.store(this.nameOf(message.routeId));
        for (const bucket of message.reset) store.resetBucket(bucket);
        for (const entry of message.upserts) store.set(entry.path, entry);
        for (const path of message.removes) store.delete(path);
        if (!this.edge.holdAcks) this.ack(this.unacked.pop()!);
        break;
      }
      case 'unlistShare':
        if (!this.listed.delete(message.routeId)) this.edge.violations.push(`unlistShare for ${message.routeId}, not listed`);
        this.edge.stores.delete(this.nameOf(message.routeId));
        break;
      default:
        break;
    }
  }
}

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}
