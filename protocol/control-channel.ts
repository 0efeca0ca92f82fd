import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { z } from 'zod';
import { UdnsError } from './errors.js';
import { MAX_CONTROL_FRAME_BYTES } from './limits.js';

/** Stream errors that mean the transport is gone rather than that the peer misbehaved. */
const CONNECTION_LOST = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ERR_STREAM_PREMATURE_CLOSE']);

/**
 * Newline-delimited JSON over the tunnel's control stream. Every incoming line is parsed with
 * `inbound`; anything else (bad JSON, unknown message, oversized line) is a protocol violation
 * reported through `'error'`, after which the owner tears the tunnel down.
 *
 * Events: `'message'` (parsed message), `'error'` (UdnsError), `'close'`.
 */
export class ControlChannel<In extends z.ZodType, Out> extends EventEmitter {
  /** Pieces of the line being received (no newline yet), and their size in bytes. */
  private partial: string[] = [];
  private partialBytes = 0;
  private closed = false;

  constructor(private readonly stream: Duplex, private readonly inbound: In) {
    super();
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => this.receive(chunk));
    stream.on('error', (error: NodeJS.ErrnoException) => {
      // The connection under the tunnel went away (a peer killed mid-transfer resets it): a
      // close, not a protocol violation for someone to act on.
      if (error.code !== undefined && CONNECTION_LOST.has(error.code)) this.markClosed();
      else this.fail(new UdnsError('protocol_violation', 'control stream failed', { cause: error }));
    });
    stream.on('close', () => this.markClosed());
    stream.on('end', () => this.markClosed());
  }

  /** Sends one message; silently dropped once the channel is closed (the tunnel is going away). */
  send(message: Out): void {
    if (this.closed || this.stream.destroyed) return;
    this.stream.write(`${JSON.stringify(message)}\n`);
  }

  /** Ends the control stream. */
  close(): void {
    if (!this.stream.destroyed) this.stream.end();
    this.markClosed();
  }

  // Each chunk is scanned once: a peer dribbling a line in one-byte HTTP/2 DATA frames used to
  // cost a rescan (and a copy) of everything buffered per byte, ~2 s of the event loop for one
  // 64 KiB line, repeatable at will.
  private receive(chunk: string): void {
    let from = 0;
    let newline: number;
    while ((newline = chunk.indexOf('\n', from)) !== -1) {
      const piece = chunk.slice(from, newline);
      const line = this.partial.length === 0 ? piece : this.partial.join('') + piece;
      this.partial = [];
      this.partialBytes = 0;
      from = newline + 1;
      if (line.length > 0) this.parse(line);
      if (this.closed) return;
    }
    if (from === chunk.length) return;
    const rest = chunk.slice(from);
    this.partial.push(rest);
    this.partialBytes += Buffer.byteLength(rest);
    if (this.partialBytes > MAX_CONTROL_FRAME_BYTES) {
      this.fail(new UdnsError('protocol_violation', `control message larger than ${MAX_CONTROL_FRAME_BYTES} bytes`));
    }
  }

  private parse(line: string): void {
    if (Buffer.byteLength(line) > MAX_CONTROL_FRAME_BYTES) {
      this.fail(new UdnsError('protocol_violation', `control message larger than ${MAX_CONTROL_FRAME_BYTES} bytes`));
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      this.fail(new UdnsError('protocol_violation', 'control message is not JSON'));
      return;
    }
    const parsed = this.inbound.safeParse(json);
    if (!parsed.success) {
      this.fail(new UdnsError('protocol_violation', `unexpected control message: ${parsed.error.issues[0]?.message ?? 'invalid'}`));
      return;
    }
    this.emit('message', parsed.data);
  }

  private fail(error: UdnsError): void {
    if (this.closed) return;
    this.emit('error', error);
    this.closed = true;
    this.stream.destroy();
    this.emit('close');
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }
}
