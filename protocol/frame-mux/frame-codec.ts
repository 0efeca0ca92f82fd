/*
 * The frame mux's wire format: every frame is a 9-byte header (payload length u32, type u8,
 * stream id u32, all big-endian) and its payload. A DATA payload is handed on in the pieces the
 * socket delivers (never copied or reassembled); every other payload is small, bounded, and
 * read whole. Anything outside these rules is a protocol error that ends the tunnel.
 */

export const FRAME_HEADER_BYTES = 9;

export const FrameType = {
  /** Stream 0. Version u32, the most streams the sender takes open at once u32. First frame each way. */
  SETTINGS: 1,
  /** Opens a stream; payload: its headers (JSON object of strings). */
  OPEN: 2,
  /** The answer to OPEN; payload: its headers (JSON object of strings). */
  RESPONSE: 3,
  DATA: 4,
  /** The sender's half of the stream is over (like a FIN). */
  END: 5,
  /** The stream is over both ways; payload: code u32 (HTTP/2's error codes). */
  RESET: 6,
  /** The receiver read bytes and gives that much credit back; payload: increment u32. */
  WINDOW: 7,
  /** Stream 0; payload: 8 opaque bytes echoed by PONG. */
  PING: 8,
  PONG: 9,
  /** Stream 0; payload: the last stream id the sender accepted u32, code u32. No new streams after it. */
  GOAWAY: 10,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** The version this module speaks (SETTINGS); a peer with another one is refused. */
export const FRAME_MUX_VERSION = 1;
/** Largest DATA payload we send: bigger frames mean fewer callbacks per MiB at the receiver. */
export const MAX_SENT_DATA_BYTES = 256 * 1024;
/** Largest DATA payload we accept (bounded anyway by the stream's credit). */
export const MAX_DATA_BYTES = 1024 * 1024;
/** Largest OPEN/RESPONSE payload (the headers). */
export const MAX_HEADERS_BYTES = 16 * 1024;

const FIXED_PAYLOAD: Partial<Record<number, number>> = {
  [FrameType.SETTINGS]: 8,
  [FrameType.END]: 0,
  [FrameType.RESET]: 4,
  [FrameType.WINDOW]: 4,
  [FrameType.PING]: 8,
  [FrameType.PONG]: 8,
  [FrameType.GOAWAY]: 8,
};

/** Frames that belong to the connection (stream 0) rather than to a stream. */
const CONNECTION_FRAMES = new Set<number>([FrameType.SETTINGS, FrameType.PING, FrameType.PONG, FrameType.GOAWAY]);

export function frameHeader(type: FrameType, streamId: number, payloadLength: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(payloadLength, 0);
  header[4] = type;
  header.writeUInt32BE(streamId, 5);
  return header;
}

/** A header and a small payload in one buffer. */
export function smallFrame(type: FrameType, streamId: number, payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame[4] = type;
  frame.writeUInt32BE(streamId, 5);
  payload.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

/** A frame whose payload is one or two u32s. */
export function numberFrame(type: FrameType, streamId: number, first: number, second?: number): Buffer {
  const length = second === undefined ? 4 : 8;
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  frame.writeUInt32BE(length, 0);
  frame[4] = type;
  frame.writeUInt32BE(streamId, 5);
  frame.writeUInt32BE(first >>> 0, 9);
  if (second !== undefined) frame.writeUInt32BE(second >>> 0, 13);
  return frame;
}

export type StreamHeaders = Record<string, string>;

export function encodeHeaders(headers: Record<string, unknown>): Buffer {
  const plain: StreamHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    plain[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return Buffer.from(JSON.stringify(plain));
}

/** The headers of an OPEN or RESPONSE payload, or null when they are not an object of strings. */
export function decodeHeaders(payload: Buffer): StreamHeaders | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch {
    return null;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
  const headers: StreamHeaders = Object.create(null) as StreamHeaders;
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof value !== 'string') return null;
    headers[name] = value;
  }
  return headers;
}

/** What the reader hands on, frame by frame. */
export interface FrameHandler {
  /** One piece of a DATA payload, as the transport's read cut it (a frame may come in several). */
  data(streamId: number, piece: Buffer): void;
  /** A whole non-DATA frame. */
  frame(type: FrameType, streamId: number, payload: Buffer): void;
  /** The bytes broke the format; nothing more is read. */
  invalid(reason: string): void;
}

/**
 * Reads frames from the transport's chunks. DATA pieces are slices of the chunks (zero copy);
 * a header or a small payload cut across chunks is gathered first.
 */
export class FrameReader {
  private readonly header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  private headerFill = 0;
  private type = 0;
  private streamId = 0;
  /** Payload bytes of the current frame still to come; -1 between frames. */
  private remaining = -1;
  private gathered: Buffer | null = null;
  private gatheredFill = 0;
  private broken = false;

  constructor(private readonly handler: FrameHandler) {}

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length && !this.broken) {
      if (this.remaining < 0) {
        // A whole header in this chunk: read it in place.
        if (this.headerFill === 0 && chunk.length - offset >= FRAME_HEADER_BYTES) {
          this.begin(chunk.readUInt32BE(offset), chunk[offset + 4]!, chunk.readUInt32BE(offset + 5));
          offset += FRAME_HEADER_BYTES;
        } else {
          const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, chunk.length - offset);
          chunk.copy(this.header, this.headerFill, offset, offset + take);
          this.headerFill += take;
          offset += take;
          if (this.headerFill < FRAME_HEADER_BYTES) return;
          this.headerFill = 0;
          this.begin(this.header.readUInt32BE(0), this.header[4]!, this.header.readUInt32BE(5));
        }
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - offset);
      if (this.type === FrameType.DATA) {
        this.handler.data(this.streamId, chunk.subarray(offset, offset + take));
      } else if (this.gathered === null && take === this.remaining) {
        this.remaining = -1;
        this.handler.frame(this.type as FrameType, this.streamId, chunk.subarray(offset, offset + take));
        offset += take;
        continue;
      } else {
        this.gathered ??= Buffer.allocUnsafe(this.remaining);
        chunk.copy(this.gathered, this.gatheredFill, offset, offset + take);
        this.gatheredFill += take;
      }
      offset += take;
      this.remaining -= take;
      if (this.remaining === 0) this.complete();
    }
  }

  private begin(length: number, type: number, streamId: number): void {
    const problem = checkHeader(length, type, streamId);
    if (problem !== null) {
      this.broken = true;
      this.handler.invalid(problem);
      return;
    }
    this.type = type;
    this.streamId = streamId;
    this.remaining = length;
    this.gathered = null;
    this.gatheredFill = 0;
    if (length === 0) this.complete();
  }

  private complete(): void {
    this.remaining = -1;
    if (this.type === FrameType.DATA) return;
    const payload = this.gathered ?? Buffer.alloc(0);
    this.gathered = null;
    this.handler.frame(this.type as FrameType, this.streamId, payload);
  }
}

function checkHeader(length: number, type: number, streamId: number): string | null {
  if (type < FrameType.SETTINGS || type > FrameType.GOAWAY) return `unknown frame type ${type}`;
  const connectionFrame = CONNECTION_FRAMES.has(type);
  if (connectionFrame && streamId !== 0) return `frame type ${type} on stream ${streamId}`;
  if (!connectionFrame && streamId === 0) return `frame type ${type} on stream 0`;
  const fixed = FIXED_PAYLOAD[type];
  if (fixed !== undefined && length !== fixed) return `frame type ${type} with ${length} payload bytes`;
  if (type === FrameType.DATA && length > MAX_DATA_BYTES) return `DATA frame of ${length} bytes`;
  if ((type === FrameType.OPEN || type === FrameType.RESPONSE) && length > MAX_HEADERS_BYTES) return `headers of ${length} bytes`;
  return null;
}
