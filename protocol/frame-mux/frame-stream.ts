import { Duplex } from 'node:stream';
import { MAX_SENT_DATA_BYTES } from './frame-codec.js';
import { ResetCode } from './reset-codes.js';

/** What a stream needs from its session. */
export interface StreamCarrier {
  /** The window a stream keeps open for its peer now (grows with the measured bandwidth-delay product). */
  readonly receiveWindow: number;
  /** True while the tunnel's send backlog is full: DATA waits (see waitForRoom). */
  readonly congested: boolean;
  sendData(streamId: number, payload: Buffer): void;
  sendEnd(streamId: number): void;
  sendReset(streamId: number, code: number): void;
  sendWindow(streamId: number, increment: number): void;
  sendResponse(streamId: number, headers: Record<string, unknown>): void;
  /** Calls `stream.unblock()` once the backlog has room. */
  waitForRoom(stream: FrameStream): void;
  /** The stream is over: forget it. */
  forget(stream: FrameStream): void;
  /** The peer broke flow control on a stream. */
  violated(stream: FrameStream, reason: string): void;
}

/**
 * One stream of the frame mux, as a Duplex with the parts of node:http2's Http2Stream the edge
 * and agent use (id, rstCode, close(code), respond(), 'response'). Sending is bounded by the
 * credit the peer gave; credit goes back as this end's reader consumes what arrived, so a
 * reader that stops holds the sender at one window.
 */
export class FrameStream extends Duplex {
  /** The code the stream ended with: set by a reset either way, 0 after a clean end both ways. */
  rstCode: number | undefined = undefined;
  headersSent = false;
  /** Bytes the peer allows us to send now. */
  private sendCredit: number;
  /** A write waiting for credit or for room in the tunnel's backlog. */
  private blocked: { chunk: Buffer; done: (error?: Error | null) => void } | null = null;
  /** DATA bytes received, and credit given to the peer, since the stream opened. */
  private received = 0;
  private granted: number;
  private endSent = false;
  private endReceived = false;
  /** No RESET is to be sent any more: one went either way, or the session is gone. */
  private finishedOnWire = false;

  constructor(
    readonly id: number,
    private readonly carrier: StreamCarrier,
    initialWindow: number,
  ) {
    super({ allowHalfOpen: true });
    this.sendCredit = initialWindow;
    this.granted = initialWindow;
  }

  /** Answers an OPEN (the agent's side): `{ endStream: true }` also ends our half. */
  respond(headers: Record<string, unknown>, options?: { endStream?: boolean }): void {
    if (this.destroyed || this.headersSent) return;
    this.headersSent = true;
    this.carrier.sendResponse(this.id, headers);
    if (options?.endStream) this.end();
  }

  /** Resets the stream with `code` (HTTP/2's codes; default NO_ERROR) and destroys it. */
  close(code: number = ResetCode.NO_ERROR): void {
    if (this.destroyed) return;
    this.rstCode = code;
    if (!this.finishedOnWire) {
      this.finishedOnWire = true;
      this.carrier.sendReset(this.id, code);
    }
    this.destroy();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.send(chunk, done);
  }

  override _final(done: (error?: Error | null) => void): void {
    this.endSent = true;
    if (!this.finishedOnWire) this.carrier.sendEnd(this.id);
    done();
  }

  override _read(): void {
    // Called before read() takes the buffered bytes out: give credit back once it has.
    queueMicrotask(() => this.giveCredit());
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    if (!this.finishedOnWire) {
      this.finishedOnWire = true;
      if (this.endSent && this.endReceived) {
        this.rstCode ??= ResetCode.NO_ERROR;
      } else {
        this.rstCode ??= error ? ResetCode.INTERNAL_ERROR : ResetCode.CANCEL;
        this.carrier.sendReset(this.id, this.rstCode);
      }
    }
    this.blocked = null;
    this.carrier.forget(this);
    done(error);
  }

  /** The session: a piece of a DATA frame for this stream. */
  receiveData(piece: Buffer): void {
    if (this.endReceived || this.destroyed) return;
    this.received += piece.length;
    if (this.received > this.granted) {
      this.carrier.violated(this, `stream ${this.id} sent ${this.received - this.granted} bytes past its credit`);
      return;
    }
    // A piece is a slice of the transport's read and keeps all of it alive while it waits (in
    // our buffer or the consumer's). A peer mixing 1-byte DATA with junk for unknown streams
    // would make each byte of credit hold a whole read (64 KiB, or a WebSocket message): pieces
    // much smaller than their read are copied, so what a stream holds stays within 4x its credit.
    this.push(piece.length * 4 < piece.buffer.byteLength ? Buffer.from(piece) : piece);
    this.giveCredit();
  }

  /** The session: the peer's END. */
  receiveEnd(): void {
    if (this.endReceived || this.destroyed) return;
    this.endReceived = true;
    this.push(null);
  }

  /** The session: the peer's RESET. */
  receiveReset(code: number): void {
    if (this.destroyed) return;
    this.rstCode = code;
    this.finishedOnWire = true;
    this.destroy();
  }

  /** The session: the peer's RESPONSE. */
  receiveResponse(headers: Record<string, string | number>): void {
    if (!this.destroyed) this.emit('response', headers);
  }

  /** The session: the peer's WINDOW. */
  receiveCredit(increment: number): void {
    this.sendCredit += increment;
    this.unblock();
  }

  /** The session ended under the stream: no frame can go out any more. */
  sessionGone(): void {
    this.finishedOnWire = true;
    this.destroy();
  }

  /** Sends a write that waited, now that credit or backlog room came. */
  unblock(): void {
    const waiting = this.blocked;
    if (waiting === null || this.destroyed) return;
    this.blocked = null;
    this.send(waiting.chunk, waiting.done);
  }

  private send(chunk: Buffer, done: (error?: Error | null) => void): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.carrier.congested) {
        this.blocked = { chunk: offset === 0 ? chunk : chunk.subarray(offset), done };
        this.carrier.waitForRoom(this);
        return;
      }
      const size = Math.min(this.sendCredit, MAX_SENT_DATA_BYTES, chunk.length - offset);
      if (size <= 0) {
        // The peer's receiveCredit() sends the rest.
        this.blocked = { chunk: offset === 0 ? chunk : chunk.subarray(offset), done };
        return;
      }
      this.carrier.sendData(this.id, offset === 0 && size === chunk.length ? chunk : chunk.subarray(offset, offset + size));
      this.sendCredit -= size;
      offset += size;
    }
    done();
  }

  /**
   * Keeps the peer's credit at one window past what our reader has taken; returned in steps
   * of a quarter window, so a bulk transfer costs a WINDOW frame per quarter window.
   */
  private giveCredit(): void {
    if (this.endReceived || this.finishedOnWire) return;
    const window = this.carrier.receiveWindow;
    const target = this.received - this.readableLength + window;
    const increment = target - this.granted;
    if (increment < window / 4) return;
    this.granted = target;
    this.carrier.sendWindow(this.id, increment);
  }
}
