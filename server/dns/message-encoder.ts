import dns2 from 'dns2';
import { ipv4Bytes, ipv6Bytes } from '../../protocol/ip-bytes.js';
import { asciiLowercase, MAX_TXT_STRING_BYTES, type ZoneRecord } from './zone-records.js';

const { Packet } = dns2;
type Packet = dns2.Packet;

/** Longest name on the wire, length bytes and root included (RFC 1035 §2.3.4). */
const MAX_NAME_BYTES = 255;
const MAX_LABEL_BYTES = 63;
/** Compression pointers have 14 bits of offset (RFC 1035 §4.1.4). */
const MAX_POINTER_OFFSET = 0x3fff;
const MAX_TTL = 0x7fffffff;

/** Thrown inside the writer when the message would pass its limit; never escapes. */
const OVERFLOW = Symbol('overflow');

/**
 * Fields of the records we send: a ZoneRecord, plus what the OPT pseudo-record carries. `data`
 * is wider than ZoneRecord's, as dns2 also accepts strings and single buffers there.
 */
type EncodableRecord = Omit<ZoneRecord, 'data'> & {
  data?: ReadonlyArray<Buffer | string> | Buffer | string;
  version?: number;
  doFlag?: boolean;
  rdata?: readonly unknown[];
};

/** Largest message we ever encode: the TCP limit (its length prefix has two bytes). */
const MAX_MESSAGE_BYTES = 65_535;
/**
 * Where messages are written before being copied out at their exact size. One is enough:
 * encoding is synchronous, so no two messages are ever written at once.
 */
const scratch = Buffer.allocUnsafe(MAX_MESSAGE_BYTES);

class MessageWriter {
  length = 0;
  /** Lowercase name suffix → offset of its first occurrence, for compression pointers. */
  private readonly names = new Map<string, number>();
  private readonly maxBytes: number;

  constructor(maxBytes: number) {
    this.maxBytes = Math.min(maxBytes, MAX_MESSAGE_BYTES);
  }

  private reserve(bytes: number): number {
    const at = this.length;
    if (at + bytes > this.maxBytes) throw OVERFLOW;
    this.length = at + bytes;
    return at;
  }

  u8(value: number): void {
    scratch[this.reserve(1)] = value & 0xff;
  }

  u16(value: number): void {
    scratch.writeUInt16BE(value & 0xffff, this.reserve(2));
  }

  u32(value: number): void {
    scratch.writeUInt32BE(value >>> 0, this.reserve(4));
  }

  bytes(data: Uint8Array | readonly number[]): void {
    const at = this.reserve(data.length);
    for (let i = 0; i < data.length; i++) scratch[at + i] = data[i]!;
  }

  patchU16(at: number, value: number): void {
    scratch.writeUInt16BE(value, at);
  }

  /**
   * Writes a name, compressed against earlier ones. Labels are written byte for byte as dns2
   * decoded them (one character per byte), so a question is echoed exactly as it came.
   */
  name(name: string): void {
    // Label boundaries, skipping empty labels as dns2 does ('a..b', a leading or final dot).
    const starts: number[] = [];
    const ends: number[] = [];
    let total = 1;
    for (let start = 0; start <= name.length; ) {
      let end = name.indexOf('.', start);
      if (end === -1) end = name.length;
      const length = end - start;
      if (length > MAX_LABEL_BYTES) throw new Error(`cannot encode label ${JSON.stringify(name.slice(start, end))} in ${JSON.stringify(name)}`);
      if (length > 0) {
        starts.push(start);
        ends.push(end);
        total += length + 1;
      }
      start = end + 1;
    }
    if (total > MAX_NAME_BYTES) throw new Error(`name ${JSON.stringify(name)} is longer than ${MAX_NAME_BYTES} bytes`);
    // Suffixes as keys: a name written oddly ('a..b', 'b.') gets keys nothing else has, which
    // costs compression, never correctness.
    const lower = asciiLowercase(name);
    for (let i = 0; i < starts.length; i++) {
      const suffix = lower.slice(starts[i]);
      const earlier = this.names.get(suffix);
      if (earlier !== undefined) {
        this.u16(0xc000 | earlier);
        return;
      }
      if (this.length <= MAX_POINTER_OFFSET) this.names.set(suffix, this.length);
      const length = ends[i]! - starts[i]!;
      const at = this.reserve(1 + length);
      scratch[at] = length;
      for (let j = 0; j < length; j++) {
        const code = name.charCodeAt(starts[i]! + j);
        if (code > 0xff) throw new Error(`cannot encode ${JSON.stringify(name)}: not one byte per character`);
        scratch[at + 1 + j] = code;
      }
    }
    this.u8(0);
  }

  toBuffer(): Buffer {
    return Buffer.from(scratch.subarray(0, this.length));
  }
}

function txtStrings(data: EncodableRecord['data']): Buffer[] {
  const items = data === undefined ? [] : Array.isArray(data) ? data : [data as Buffer | string];
  const strings = items.map((item) => (typeof item === 'string' ? Buffer.from(item, 'utf8') : item));
  for (const string of strings) {
    if (string.length > MAX_TXT_STRING_BYTES) throw new Error(`TXT string of ${string.length} bytes: split it with splitTxt`);
  }
  return strings.length > 0 ? strings : [Buffer.alloc(0)];
}

function writeRdata(writer: MessageWriter, record: EncodableRecord): void {
  const { TYPE } = Packet;
  switch (record.type) {
    case TYPE.A:
      return writer.bytes(ipv4Bytes(record.address ?? ''));
    case TYPE.AAAA:
      return writer.bytes(ipv6Bytes(record.address ?? ''));
    case TYPE.NS:
      return writer.name(record.ns ?? '');
    case TYPE.CNAME:
      return writer.name(record.domain ?? '');
    case TYPE.SOA:
      writer.name(record.primary ?? '');
      writer.name(record.admin ?? '');
      for (const field of [record.serial, record.refresh, record.retry, record.expiration]) writer.u32(field ?? 0);
      return writer.u32(Math.min((record.minimum ?? 0) >>> 0, MAX_TTL));
    case TYPE.TXT:
      for (const string of txtStrings(record.data)) {
        writer.u8(string.length);
        writer.bytes(string);
      }
      return;
    case TYPE.CAA: {
      const tag = Buffer.from(record.tag ?? '', 'utf8');
      writer.u8(record.flags ?? 0);
      writer.u8(tag.length);
      writer.bytes(tag);
      return writer.bytes(Buffer.from(record.value ?? '', 'utf8'));
    }
    case TYPE.EDNS:
      // We send no EDNS options; an OPT that carries some was not built by us.
      if ((record.rdata ?? []).length > 0) throw new Error('cannot encode EDNS options');
      return;
    default:
      throw new Error(`cannot encode a record of type ${record.type}`);
  }
}

function writeRecord(writer: MessageWriter, record: EncodableRecord, extendedRcode: number): void {
  writer.name(record.name);
  writer.u16(record.type);
  writer.u16(record.class);
  if (record.type === Packet.TYPE.EDNS) {
    // RFC 6891 §6.1.3: the TTL field holds the RCODE's high bits, the version and DO.
    writer.u32(((extendedRcode & 0xff) << 24) | (((record.version ?? 0) & 0xff) << 16) | (record.doFlag === true ? 0x8000 : 0));
  } else {
    writer.u32(Math.min(Math.max(Math.floor(record.ttl), 0), MAX_TTL));
  }
  const lengthAt = writer.length;
  writer.u16(0);
  writeRdata(writer, record);
  writer.patchU16(lengthAt, writer.length - lengthAt - 2);
}

/**
 * Encodes a response built as a dns2 Packet into at most `maxBytes`, or returns null when it
 * does not fit (stopping as soon as it knows). Writes what dns2's own encoder writes, byte for
 * byte, for every record type the zone produces — but into a Buffer rather than an array of
 * bits, which made dns2 take ~36 µs for a one-record answer and ~130 ms for 100 kB of TXT.
 *
 * @throws for a record it cannot encode (a malformed address, an unknown type)
 */
export function encodeMessage(message: Packet, maxBytes: number): Buffer | null {
  const writer = new MessageWriter(maxBytes);
  const header = message.header;
  const sections = [message.answers, message.authorities, message.additionals] as unknown as EncodableRecord[][];
  try {
    writer.u16(header.id);
    writer.u16(
      ((header.qr & 1) << 15) |
        ((header.opcode & 0xf) << 11) |
        ((header.aa & 1) << 10) |
        ((header.tc & 1) << 9) |
        ((header.rd & 1) << 8) |
        ((header.ra & 1) << 7) |
        // Z, AD and CD stay 0: we neither sign nor validate (dns2's Header has no AD/CD fields).
        (header.rcode & 0xf),
    );
    writer.u16(message.questions.length);
    for (const section of sections) writer.u16(section.length);
    for (const question of message.questions) {
      writer.name(question.name);
      writer.u16(question.type);
      writer.u16(question.class);
    }
    const extendedRcode = header.rcode >>> 4;
    for (const section of sections) for (const record of section) writeRecord(writer, record, extendedRcode);
  } catch (error) {
    if (error === OVERFLOW) return null;
    throw error;
  }
  return writer.toBuffer();
}
