import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { BdpEstimator, BDP_ROUND_SPACING_MS, windowShare } from '../bdp-window.js';
import {
  FRAME_MUX_VERSION,
  FrameReader,
  FrameType,
  decodeHeaders,
  encodeHeaders,
  frameHeader,
  numberFrame,
  smallFrame,
} from './frame-codec.js';
import { FrameStream, type StreamCarrier } from './frame-stream.js';
import { ResetCode } from './reset-codes.js';

/*
 * The frame mux: our own multiplexer over the tunnel's byte stream, in place of node:http2
 * (decisions §74). One read of the transport hands every frame in it to its stream, DATA as
 * slices of the read; every frame queued during one event-loop turn leaves in one write; DATA
 * frames are up to 256 KiB (node:http2 sends 16 KiB). Flow control is per stream, by credit
 * the reader gives back as it consumes; the window grows with the measured bandwidth-delay
 * product, within the tunnel's budget. The edge opens streams (odd ids), the agent answers.
 */

export interface FrameSessionOptions {
  /** The edge opens streams; the agent accepts them. */
  role: 'edge' | 'agent';
  /** Streams the peer may have open at once (advertised in SETTINGS). */
  maxStreams: number;
  /** The window every stream starts with, both ways (fixed by the protocol version). */
  initialWindow: number;
  /** Ceiling of a grown stream window. */
  maxWindow: number;
  /** What the grown windows of all open streams may add up to. */
  windowBudget: number;
  /** Unanswered heartbeat PINGs end the session. */
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  /** Bytes queued for the transport above which DATA waits. */
  sendBacklogBytes?: number;
}

const DEFAULT_SEND_BACKLOG_BYTES = 1024 * 1024;
/** Bytes that must arrive since the last BDP sample for the tunnel to count as busy. */
const BUSY_BYTES = 64 * 1024;
const MAX_OUTSTANDING_PINGS = 10;
/** PONGs answered while the send backlog is full, until it has room again. */
const MAX_PONGS_WHILE_CONGESTED = 2 * MAX_OUTSTANDING_PINGS;
/** Bytes queued for a peer that does not read, past which the session ends. */
const MAX_UNREAD_BYTES = 64 * 1024 * 1024;
/** Stream ids are u32 on the wire. */
const MAX_STREAM_ID = 0xffffffff;

/** Sessions with frames queued this turn: one shared setImmediate writes them all. */
let queued = new Set<FrameSession>();
let flushScheduled = false;
function flushQueued(): void {
  flushScheduled = false;
  // A flush can queue more (streams waiting for room send): those go in the next turn's set.
  const sessions = queued;
  queued = new Set();
  for (const session of sessions) session.flush();
}

export class FrameSession extends EventEmitter implements StreamCarrier {
  readonly remoteSettings: { maxConcurrentStreams?: number } = {};
  destroyed = false;
  /** True once this end started closing (close()): no new streams either way. */
  closed = false;
  private goawayReceived = false;
  private readonly streams = new Map<number, FrameStream>();
  private nextStreamId: number;
  private lastRemoteStreamId = 0;
  private readonly reader: FrameReader;
  private out: Buffer[] = [];
  private outBytes = 0;
  private readonly waiting = new Set<FrameStream>();
  private readonly sendBacklogBytes: number;
  private readonly estimator: BdpEstimator;
  private bytesReceived = 0;
  /** Bytes received when the last BDP sample ended; -1 while a BDP ping is out. */
  private sampledAt = 0;
  private nextBdpAt = 0;
  private pingSequence = 0;
  private readonly pings = new Map<number, { sentAt: number; done: (error: Error | null, durationMs: number) => void }>();
  private readonly heartbeat: NodeJS.Timeout;
  private settingsReceived = false;
  private pongsWhileCongested = 0;
  private receivedAtLastBeat = -1;

  constructor(private readonly transport: Duplex, private readonly options: FrameSessionOptions) {
    super();
    this.nextStreamId = options.role === 'edge' ? 1 : 2;
    this.sendBacklogBytes = options.sendBacklogBytes ?? DEFAULT_SEND_BACKLOG_BYTES;
    this.estimator = new BdpEstimator(options.initialWindow, options.maxWindow);
    this.reader = new FrameReader({
      data: (streamId, piece) => this.streams.get(streamId)?.receiveData(piece),
      frame: (type, streamId, payload) => this.receiveFrame(type, streamId, payload),
      invalid: (reason) => this.fail(reason),
    });
    transport.on('data', (chunk: Buffer) => {
      this.bytesReceived += chunk.length;
      this.reader.push(chunk);
      if (this.sampledAt >= 0 && this.bytesReceived - this.sampledAt >= BUSY_BYTES) this.measureBdp();
    });
    transport.on('drain', () => this.resumeWaiting());
    const gone = (): void => this.destroy();
    transport.on('error', gone);
    transport.once('end', gone);
    transport.once('close', gone);
    this.heartbeat = setInterval(() => this.beat(), options.heartbeatIntervalMs);
    this.heartbeat.unref();
    this.queue(numberFrame(FrameType.SETTINGS, 0, FRAME_MUX_VERSION, options.maxStreams));
  }

  /** Streams open now. */
  get openStreams(): number {
    return this.streams.size;
  }

  /** The window each stream now keeps open for its peer: the BDP estimate, within the budget's share. */
  get receiveWindow(): number {
    const grown = this.estimator.window;
    if (grown <= this.options.initialWindow) return grown;
    return Math.min(grown, windowShare(this.options.windowBudget, this.streams.size, this.options.initialWindow));
  }

  /** The window the BDP estimate has reached, before the budget's share (tests, diagnostics). */
  get estimatedWindow(): number {
    return this.estimator.window;
  }

  get congested(): boolean {
    return this.outBytes + this.transport.writableLength > this.sendBacklogBytes;
  }

  /** Opens a stream to the peer; bytes may be written at once. */
  request(headers: Record<string, unknown>, _options?: { endStream?: boolean }): FrameStream {
    if (this.destroyed || this.closed || this.goawayReceived) throw new Error('the tunnel is closing: no new streams');
    if (this.nextStreamId > MAX_STREAM_ID) {
      // Ids are u32 on the wire: a tunnel that used them all closes (the agent dials a new one).
      this.close();
      throw new Error('the tunnel is closing: its stream ids are used up');
    }
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const stream = new FrameStream(id, this, this.options.initialWindow);
    this.streams.set(id, stream);
    this.queue(smallFrame(FrameType.OPEN, id, encodeHeaders(headers)));
    return stream;
  }

  /** Sends a PING; `done` gets its round trip. False when too many are out already. */
  ping(done: (error: Error | null, durationMs: number) => void): boolean {
    if (this.destroyed || this.pings.size >= MAX_OUTSTANDING_PINGS) return false;
    const sequence = ++this.pingSequence;
    this.pings.set(sequence, { sentAt: performance.now(), done });
    const frame = numberFrame(FrameType.PING, 0, 0, sequence);
    this.queue(frame);
    return true;
  }

  /** Closes gracefully: a GOAWAY, no new streams, the transport ends once open ones have. */
  close(): void {
    if (this.destroyed || this.closed) return;
    this.closed = true;
    this.queue(numberFrame(FrameType.GOAWAY, 0, this.lastRemoteStreamId, ResetCode.NO_ERROR));
    if (this.streams.size === 0) setImmediate(() => this.destroy());
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    clearInterval(this.heartbeat);
    queued.delete(this);
    this.flush();
    for (const stream of [...this.streams.values()]) stream.sessionGone();
    this.streams.clear();
    this.waiting.clear();
    for (const ping of this.pings.values()) ping.done(new Error('tunnel closed'), 0);
    this.pings.clear();
    if (this.transport.writableLength > 0 && !this.transport.destroyed) {
      // Let a GOAWAY or a last frame reach the peer, but never wait on it for long.
      this.transport.end();
      setTimeout(() => this.transport.destroy(), 1000).unref();
    } else {
      this.transport.destroy();
    }
    process.nextTick(() => this.emit('close'));
  }

  // StreamCarrier: what streams ask of their session.

  sendData(streamId: number, payload: Buffer): void {
    // Never copied, also when small: joining small frames into one buffer (Buffer.concat, or
    // a header and its payload) cost the agent 29 → 35 µs per 1 KiB request and doubled p99,
    // from the garbage those buffers make (decisions §74).
    this.queue(frameHeader(FrameType.DATA, streamId, payload.length));
    this.queue(payload);
  }

  sendEnd(streamId: number): void {
    this.queue(frameHeader(FrameType.END, streamId, 0));
  }

  sendReset(streamId: number, code: number): void {
    this.queue(numberFrame(FrameType.RESET, streamId, code));
  }

  sendWindow(streamId: number, increment: number): void {
    this.queue(numberFrame(FrameType.WINDOW, streamId, increment));
  }

  sendResponse(streamId: number, headers: Record<string, unknown>): void {
    this.queue(smallFrame(FrameType.RESPONSE, streamId, encodeHeaders(headers)));
  }

  waitForRoom(stream: FrameStream): void {
    this.waiting.add(stream);
  }

  forget(stream: FrameStream): void {
    if (this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    this.waiting.delete(stream);
    if (this.closed && this.streams.size === 0) setImmediate(() => this.destroy());
  }

  violated(stream: FrameStream, reason: string): void {
    this.emit('protocolError', new Error(reason));
    stream.close(ResetCode.FLOW_CONTROL_ERROR);
  }

  /** Writes every frame queued this turn: one writev (a corked run of writes). */
  flush(): void {
    if (this.out.length === 0) return;
    const out = this.out;
    this.out = [];
    this.outBytes = 0;
    if (this.transport.destroyed || !this.transport.writable) return;
    if (out.length === 1) {
      this.transport.write(out[0]);
    } else {
      this.transport.cork();
      for (const buffer of out) this.transport.write(buffer);
      this.transport.uncork();
    }
    if (this.waiting.size > 0 && !this.congested) this.resumeWaiting();
  }

  private queue(buffer: Buffer): void {
    if (this.destroyed && this.transport.destroyed) return;
    this.out.push(buffer);
    this.outBytes += buffer.length;
    // DATA waits at the backlog; only frames the peer makes us send (WINDOW, RESET, PONG) could
    // pile up past it, and only if the peer never reads.
    if (this.outBytes + this.transport.writableLength > MAX_UNREAD_BYTES && !this.destroyed) {
      this.emit('protocolError', new Error('the peer reads nothing of what it makes us send'));
      this.destroy();
      return;
    }
    queued.add(this);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flushQueued);
    }
  }

  private resumeWaiting(): void {
    for (const stream of this.waiting) {
      if (this.congested) return;
      this.waiting.delete(stream);
      stream.unblock();
    }
  }

  private receiveFrame(type: FrameType, streamId: number, payload: Buffer): void {
    // The rest of a read that carried the frame the session ended on.
    if (this.destroyed) return;
    if (!this.settingsReceived && type !== FrameType.SETTINGS) return this.fail('the first frame was not SETTINGS');
    switch (type) {
      case FrameType.SETTINGS: {
        const version = payload.readUInt32BE(0);
        if (version !== FRAME_MUX_VERSION) return this.fail(`frame mux version ${version}, this end speaks ${FRAME_MUX_VERSION}`);
        this.settingsReceived = true;
        this.remoteSettings.maxConcurrentStreams = payload.readUInt32BE(4);
        this.emit('remoteSettings', this.remoteSettings);
        return;
      }
      case FrameType.OPEN:
        return this.accept(streamId, payload);
      case FrameType.RESPONSE: {
        const headers = decodeHeaders(payload);
        if (headers === null) return this.fail(`stream ${streamId}: RESPONSE headers are not an object of strings`);
        // As node:http2 gives it: the status is a number.
        const status = headers[':status'];
        this.streams.get(streamId)?.receiveResponse(status === undefined ? headers : { ...headers, ':status': Number(status) });
        return;
      }
      case FrameType.END:
        this.streams.get(streamId)?.receiveEnd();
        return;
      case FrameType.RESET:
        this.streams.get(streamId)?.receiveReset(payload.readUInt32BE(0));
        return;
      case FrameType.WINDOW: {
        const increment = payload.readUInt32BE(0);
        if (increment === 0 || increment > 2 ** 31) return this.fail(`stream ${streamId}: WINDOW of ${increment}`);
        this.streams.get(streamId)?.receiveCredit(increment);
        return;
      }
      case FrameType.PING:
        // A peer that sends PINGs and reads nothing would fill our memory with PONGs, so while
        // our backlog is full only a few are answered (a live peer on a slow, busy link has at
        // most MAX_OUTSTANDING_PINGS out and must get them all back, or its heartbeat ends the tunnel).
        if (!this.congested) this.pongsWhileCongested = 0;
        else if (++this.pongsWhileCongested > MAX_PONGS_WHILE_CONGESTED) return;
        this.queue(smallFrame(FrameType.PONG, 0, payload));
        return;
      case FrameType.PONG: {
        const sequence = payload.readUInt32BE(4);
        const ping = this.pings.get(sequence);
        if (ping === undefined) return;
        this.pings.delete(sequence);
        ping.done(null, performance.now() - ping.sentAt);
        return;
      }
      case FrameType.GOAWAY: {
        // As node:http2 takes it: a clean GOAWAY closes this end too (closed, no new streams,
        // gone once open ones end), one with an error code ends the session.
        const code = payload.readUInt32BE(4);
        this.goawayReceived = true;
        this.emit('goaway', code);
        if (code === ResetCode.NO_ERROR) this.close();
        else this.destroy();
        return;
      }
      case FrameType.DATA:
        return;
    }
  }

  /**
   * The peer opens a stream: only the edge may, with odd ids that only grow. Nobody at the edge
   * would take a stream an agent opened (it would sit there holding credit), so that ends the session.
   */
  private accept(streamId: number, payload: Buffer): void {
    if (this.options.role === 'edge') return this.fail('the agent opened a stream');
    if (streamId % 2 !== 1 || streamId <= this.lastRemoteStreamId) return this.fail(`OPEN with stream id ${streamId}`);
    this.lastRemoteStreamId = streamId;
    const headers = decodeHeaders(payload);
    if (headers === null) return this.fail(`stream ${streamId}: OPEN headers are not an object of strings`);
    if (this.closed || this.streams.size >= this.options.maxStreams) {
      this.sendReset(streamId, ResetCode.REFUSED_STREAM);
      return;
    }
    const stream = new FrameStream(streamId, this, this.options.initialWindow);
    this.streams.set(streamId, stream);
    this.emit('stream', stream, headers);
  }

  private fail(reason: string): void {
    if (this.destroyed) return;
    this.emit('protocolError', new Error(reason));
    this.queue(numberFrame(FrameType.GOAWAY, 0, this.lastRemoteStreamId, ResetCode.PROTOCOL_ERROR));
    this.destroy();
  }

  private beat(): void {
    if (this.destroyed) return;
    // Bytes still arriving mean the peer is alive, even if its PONG waits behind a long backlog
    // on a slow, busy link (1 MiB at 1 Mbit/s is over 8 s): only a silent peer is given up.
    const receivedAtPing = this.bytesReceived;
    if (this.pings.size >= MAX_OUTSTANDING_PINGS) {
      // Every PING out is still unanswered: the peer lives only while its bytes keep coming.
      if (receivedAtPing === this.receivedAtLastBeat) this.destroy();
      this.receivedAtLastBeat = receivedAtPing;
      return;
    }
    this.receivedAtLastBeat = receivedAtPing;
    const deadline = setTimeout(() => {
      if (this.bytesReceived === receivedAtPing) this.destroy();
    }, this.options.heartbeatTimeoutMs);
    deadline.unref();
    const sent = this.ping((error) => {
      clearTimeout(deadline);
      if (error) this.destroy();
    });
    if (!sent) clearTimeout(deadline);
  }

  /**
   * One BDP sample at a time while data arrives: the bytes received until the PONG are one
   * round trip's worth (protocol/bdp-window.ts). A window that grows is used by every stream's
   * next credit; nothing needs to be sent or acknowledged for it.
   */
  private measureBdp(): void {
    if (this.estimator.saturated || this.destroyed) return;
    const now = performance.now();
    if (now < this.nextBdpAt) return;
    const before = this.bytesReceived;
    this.sampledAt = -1;
    const sent = this.ping((error, durationMs) => {
      if (error) return;
      const share = windowShare(this.options.windowBudget, this.streams.size, this.options.initialWindow);
      this.estimator.sample(this.bytesReceived - before, durationMs, share);
      this.sampledAt = this.bytesReceived;
      this.nextBdpAt = performance.now() + BDP_ROUND_SPACING_MS;
    });
    if (!sent) this.sampledAt = this.bytesReceived;
  }
}

