// Test support: raw HTTP/2 frames (RFC 9113 §4, §6), for peers that break the protocol on
// purpose where node:http2 would refuse to: floods, bad window updates, streams in the wrong
// direction, oversized frames, headers that are not HPACK.

/** Frame types. */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags. */
export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

/** SETTINGS identifiers. */
export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** What a client sends first, before its SETTINGS. */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** One decoded frame. */
export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** A frame on the wire: 9-byte header, then the payload (any length up to 2^24-1). */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

export function settings(entries: Array<[number, number]> = []): Buffer {
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value >>> 0, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

export const settingsAck = (): Buffer => frame(FrameType.SETTINGS, Flag.ACK, 0);

export function windowUpdate(streamId: number, increment: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(increment >>> 0);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

export function rstStream(streamId: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code >>> 0);
  return frame(FrameType.RST_STREAM, 0, streamId, payload);
}

export function ping(data: Buffer = Buffer.alloc(8), ack = false): Buffer {
  return frame(FrameType.PING, ack ? Flag.ACK : 0, 0, data);
}

export function goaway(lastStreamId: number, code: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(lastStreamId & 0x7fffffff);
  payload.writeUInt32BE(code >>> 0, 4);
  return frame(FrameType.GOAWAY, 0, 0, payload);
}

export function data(streamId: number, bytes: Buffer | string, endStream = false): Buffer {
  return frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, Buffer.from(bytes));
}

/** A HEADERS frame carrying `block` (see {@link hpack}) whole. */
export function headers(streamId: number, block: Buffer, endStream = false): Buffer {
  return frame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), streamId, block);
}

function hpackInteger(value: number, prefixBits: number, firstByte: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByte | value]);
  const bytes = [firstByte | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/**
 * An HPACK header block of literals (RFC 7541 §6.2.2: without indexing, new name, no Huffman):
 * any name and value bytes go out as given, valid HTTP or not.
 */
export function hpack(fields: Array<[string, string]>): Buffer {
  return Buffer.concat(fields.flatMap(([name, value]) => {
    const nameBytes = Buffer.from(name, 'latin1');
    const valueBytes = Buffer.from(value, 'latin1');
    return [Buffer.from([0x00]), hpackInteger(nameBytes.length, 7, 0), nameBytes, hpackInteger(valueBytes.length, 7, 0), valueBytes];
  }));
}

/** `:status: 200` from HPACK's static table (index 8). */
export const STATUS_200 = Buffer.from([0x88]);

/** Splits a byte stream into frames, after skipping a client preface when told to expect one. */
export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);
  private prefaceLeft: number;

  constructor(expectClientPreface: boolean) {
    this.prefaceLeft = expectClientPreface ? CLIENT_PREFACE.length : 0;
  }

  push(chunk: Buffer): Frame[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    if (this.prefaceLeft > 0) {
      const skip = Math.min(this.prefaceLeft, this.buffered.length);
      this.buffered = this.buffered.subarray(skip);
      this.prefaceLeft -= skip;
    }
    const frames: Frame[] = [];
    while (this.buffered.length >= 9) {
      const length = this.buffered.readUIntBE(0, 3);
      if (this.buffered.length < 9 + length) break;
      frames.push({
        type: this.buffered[3]!,
        flags: this.buffered[4]!,
        streamId: this.buffered.readUInt32BE(5) & 0x7fffffff,
        payload: this.buffered.subarray(9, 9 + length),
      });
      this.buffered = this.buffered.subarray(9 + length);
    }
    return frames;
  }
}
