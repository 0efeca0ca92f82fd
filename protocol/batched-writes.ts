import type { Readable, Writable } from 'node:stream';

/*
 * Bulk bytes leave the tunnel in 16 KiB pieces: node:http2 sends DATA frames of at most 16 KiB
 * whatever maxFrameSize says (docs/decisions.md §57) and hands each to JS as its own 'data'
 * event. Written one by one to a socket, each piece is a syscall (64 per MiB). A BatchedWriter
 * sends the pieces that arrive in one event-loop turn as one writev instead: the first write of
 * a turn goes out at once when it is small (a small answer is not held back at all); a full
 * frame, or any later write of the same turn, corks the socket, and one shared setImmediate
 * uncorks every corked socket at the end of the turn (after the poll phase that read the frames).
 */

/** A chunk this big is bulk (a whole DATA frame): it waits for the rest of its turn. */
const BULK_CHUNK_BYTES = 16 * 1024;

/**
 * What a writer lets its sink hold before it asks the source to pause (a socket's own
 * highWaterMark is 16 KiB, which would end every batch after two frames). It is also what a
 * stalled reader costs on top of the stream's window.
 */
export const BATCH_LIMIT_BYTES = 128 * 1024;

/** Counts turns that wrote something: advanced by the shared setImmediate that ends one. */
let turn = 0;
let turnEnding = false;
let corked: BatchedWriter[] = [];

function endTurnSoon(): void {
  if (turnEnding) return;
  turnEnding = true;
  setImmediate(endTurn);
}

function endTurn(): void {
  turnEnding = false;
  turn += 1;
  const writers = corked;
  corked = [];
  for (const writer of writers) writer.flush();
}

/** Writes to one socket (or any Writable), batching the writes of an event-loop turn. */
export class BatchedWriter {
  /** The turn of this writer's last write, -1 before the first. */
  private lastTurn = -1;
  private isCorked = false;
  private readonly limit: number;

  constructor(readonly sink: Writable, limit = BATCH_LIMIT_BYTES) {
    this.limit = Math.max(limit, sink.writableHighWaterMark);
  }

  /**
   * Writes `chunk`; returns false when the caller must stop until the sink's 'drain' (as
   * `write()` does, at {@link BATCH_LIMIT_BYTES} instead of the sink's highWaterMark, which is
   * below it: whenever this returns false, `write()` did too, so 'drain' follows).
   */
  write(chunk: Buffer): boolean {
    if (this.lastTurn === turn || chunk.length >= BULK_CHUNK_BYTES) {
      if (!this.isCorked) {
        this.isCorked = true;
        this.sink.cork();
        corked.push(this);
      }
    }
    this.lastTurn = turn;
    endTurnSoon();
    this.sink.write(chunk);
    return this.sink.writableLength < this.limit;
  }

  /** Sends what this turn corked (end() and destroy() of the sink need no flush first). */
  flush(): void {
    if (!this.isCorked) return;
    this.isCorked = false;
    this.sink.uncork();
  }
}

/**
 * `source.pipe(sink)` with the sink's writes batched per turn: backpressure at
 * {@link BATCH_LIMIT_BYTES}, the source's end ends the sink, and nothing more is written once
 * the sink has closed (as pipe() unpipes).
 */
export function pipeBatched(source: Readable, sink: Writable): void {
  const writer = new BatchedWriter(sink);
  const forward = (chunk: Buffer): void => {
    if (!writer.write(chunk)) source.pause();
  };
  const resume = (): void => {
    source.resume();
  };
  const ended = (): void => {
    sink.end();
  };
  const stop = (): void => {
    source.off('data', forward);
    source.off('end', ended);
    sink.off('drain', resume);
  };
  source.on('data', forward);
  source.once('end', ended);
  sink.on('drain', resume);
  sink.once('close', stop);
}
