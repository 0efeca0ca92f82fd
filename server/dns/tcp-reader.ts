import type net from 'node:net';

/**
 * Messages one DNS-over-TCP connection may have answered per turn of the event loop; past
 * this the reader yields (setImmediate), so one client pipelining thousands of queries shares
 * the edge with everyone else instead of holding it until its backlog is gone.
 */
export const TCP_MESSAGES_PER_TURN = 32;

/** Answers held back while a batch is handled, at most, before they are passed on to the kernel. */
const FLUSH_BYTES = 16 * 1024;

/** What a {@link TcpMessageReader} hands its messages and its end to. */
export interface TcpMessageHandlers {
  /**
   * One whole message, without its length prefix; the buffer may share memory with what was
   * received, so it is only valid during the call. Returns false when the connection is done
   * (dropped or closing): nothing more is read from it.
   */
  message(bytes: Buffer): boolean;
  /** The peer half-closed in the middle of a message. */
  broken(reason: string): void;
  /** The peer half-closed after whole messages, every one of them handled. */
  ended(): void;
}

/**
 * Reads length-prefixed DNS messages (RFC 1035 §4.2.2, pipelined as RFC 7766 §6.2.1.1
 * allows) from one TCP connection, incrementally: at most {@link TCP_MESSAGES_PER_TURN}
 * messages per turn of the event loop, the socket paused while whole messages wait their
 * turn (so at most about one read's worth — 64 KiB — is held beyond a message in progress),
 * and nothing more once the socket is destroyed or the handler says the connection is done.
 *
 * dns2's reader parsed everything a connection had sent in one go, even after the server had
 * dropped it: a client pipelining 10,000 queries held the whole edge for seconds.
 */
export class TcpMessageReader {
  private readonly chunks: Buffer[] = [];
  /** Bytes of chunks[0] already consumed. */
  private offset = 0;
  /** Unconsumed bytes across all chunks. */
  private buffered = 0;
  private scheduled = false;
  private stopped = false;
  private peerEnded = false;
  /** Messages handled since this turn of the event loop began (several reads may land in one). */
  private handledThisTurn = 0;
  private turnResetScheduled = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly handlers: TcpMessageHandlers,
    private readonly perTurn = TCP_MESSAGES_PER_TURN,
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.once('close', () => this.stop());
  }

  /** Bytes received and not yet handed out (for tests and logs). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  private readonly onData = (chunk: Buffer): void => {
    // After stop the peer's bytes are read and discarded, so its FIN still arrives.
    if (this.stopped) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (!this.scheduled) this.drain();
  };

  private readonly onEnd = (): void => {
    this.peerEnded = true;
    if (!this.scheduled && !this.stopped) this.finish();
  };

  private readonly resetTurn = (): void => {
    this.handledThisTurn = 0;
    this.turnResetScheduled = false;
  };

  private readonly drain = (): void => {
    this.scheduled = false;
    // The answers to one batch go out in one write (writev) instead of one syscall each.
    this.socket.cork();
    try {
      this.handleBatch();
    } finally {
      this.socket.uncork();
    }
  };

  private handleBatch(): void {
    while (!this.stopped) {
      if (this.socket.destroyed) {
        this.stop();
        return;
      }
      if (this.handledThisTurn >= this.perTurn && this.hasWholeMessage()) {
        // Our share of this turn is used: the rest waits for the next, reading paused.
        this.scheduled = true;
        this.socket.pause();
        setImmediate(this.drain);
        return;
      }
      const message = this.next();
      if (message === null) break;
      if (!this.turnResetScheduled) {
        // Scheduled before any yield's drain, so that drain starts a fresh turn.
        this.turnResetScheduled = true;
        setImmediate(this.resetTurn);
      }
      this.handledThisTurn++;
      if (!this.handlers.message(message)) {
        this.stop();
        return;
      }
      // Corked answers count as unsent: pass them to the kernel before they look like a
      // client that does not read.
      if (this.socket.writableLength >= FLUSH_BYTES) {
        this.socket.uncork();
        this.socket.cork();
      }
    }
    if (this.stopped) return;
    if (this.peerEnded) this.finish();
    else if (this.socket.isPaused()) this.socket.resume();
  }

  private finish(): void {
    const partial = this.buffered > 0;
    this.stop();
    if (partial) this.handlers.broken('connection closed mid-message');
    else this.handlers.ended();
  }

  private stop(): void {
    this.stopped = true;
    this.chunks.length = 0;
    this.offset = 0;
    this.buffered = 0;
    if (!this.socket.destroyed && this.socket.isPaused()) this.socket.resume();
  }

  private byteAt(index: number): number {
    let at = this.offset + index;
    for (const chunk of this.chunks) {
      if (at < chunk.length) return chunk[at]!;
      at -= chunk.length;
    }
    throw new RangeError('byteAt past the buffered bytes');
  }

  private lengthAhead(): number | null {
    if (this.buffered < 2) return null;
    return (this.byteAt(0) << 8) | this.byteAt(1);
  }

  private hasWholeMessage(): boolean {
    const length = this.lengthAhead();
    return length !== null && this.buffered >= 2 + length;
  }

  /** The next whole message, consumed, or null when it has not all arrived. */
  private next(): Buffer | null {
    const length = this.lengthAhead();
    if (length === null || this.buffered < 2 + length) return null;
    this.take(2);
    return this.take(length);
  }

  /** Consumes `length` buffered bytes: a view into one chunk when they lie in one, else a copy. */
  private take(length: number): Buffer {
    if (length === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length - this.offset >= length) {
      out = first.subarray(this.offset, this.offset + length);
      this.offset += length;
    } else {
      out = Buffer.allocUnsafe(length);
      let written = 0;
      while (written < length) {
        const chunk = this.chunks[0]!;
        const n = Math.min(chunk.length - this.offset, length - written);
        chunk.copy(out, written, this.offset, this.offset + n);
        written += n;
        this.offset += n;
        if (this.offset === chunk.length) {
          this.chunks.shift();
          this.offset = 0;
        }
      }
    }
    if (this.chunks.length > 0 && this.offset === this.chunks[0]!.length) {
      this.chunks.shift();
      this.offset = 0;
    }
    this.buffered -= length;
    return out;
  }
}
