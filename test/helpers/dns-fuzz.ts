// Test support: malformed and mutated DNS messages, and TCP streams that carry them, from a
// seeded generator (SeededRandom) so that any failing run can be replayed with the same seed.
import dns2 from 'dns2';
import { SeededRandom } from './seeded-random.js';

const { Packet } = dns2;

/** A well-formed query, optionally with an OPT record advertising 4096 bytes. */
export function validQuery(id: number, name: string, type: number = Packet.TYPE.A, edns = false): Buffer {
  const packet = new Packet();
  packet.header = new Packet.Header({ id, rd: 1 });
  packet.questions = [new Packet.Question(name, type, Packet.CLASS.IN)];
  if (edns) packet.additionals.push({ ...Packet.Resource.EDNS([], { udpPayloadSize: 4096 }), name: '' } as dns2.Packet.Resource);
  return packet.toBuffer();
}

/** `message` with the two-byte length prefix DNS over TCP puts in front of each message. */
export function frame(message: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(message.length);
  return Buffer.concat([length, message]);
}

/** What a mutation is called in the counts a fuzz run reports. */
export const MUTATIONS = [
  'random-bytes', 'truncated', 'bit-flips', 'extended', 'bogus-counts', 'compression-loop', 'huge-labels',
  'edns-options', 'response', 'header-flags', 'odd-question', 'spliced',
] as const;
export type Mutation = (typeof MUTATIONS)[number];

/** Encodes `labels` as wire-format name bytes (no compression), ending with the root label. */
function wireName(labels: Buffer[]): Buffer {
  return Buffer.concat([...labels.flatMap((label) => [Buffer.from([label.length & 0xff]), label]), Buffer.from([0])]);
}

function header(id: number, flags: number, counts: [number, number, number, number]): Buffer {
  const bytes = Buffer.alloc(12);
  bytes.writeUInt16BE(id, 0);
  bytes.writeUInt16BE(flags, 2);
  counts.forEach((count, i) => bytes.writeUInt16BE(count & 0xffff, 4 + 2 * i));
  return bytes;
}

function u16(...values: number[]): Buffer {
  const bytes = Buffer.alloc(values.length * 2);
  values.forEach((value, i) => bytes.writeUInt16BE(value & 0xffff, 2 * i));
  return bytes;
}

/**
 * Generates hostile DNS messages for a zone: mutations of real queries (bit flips, truncations,
 * extensions, bogus counts, compression loops, huge labels, EDNS options, responses instead
 * of queries, odd flags and questions, splices) and plain random bytes.
 */
export class DnsFuzzer {
  private readonly rng: SeededRandom;
  private readonly seeds: Buffer[];

  constructor(seed: number, domain: string) {
    this.rng = new SeededRandom(seed);
    const { A, AAAA, NS, MX, TXT, SOA, CAA, ANY } = Packet.TYPE;
    this.seeds = [
      validQuery(1, `alice.${domain}`),
      validQuery(2, domain, NS, true),
      validQuery(3, `nobody.${domain}`, AAAA, true),
      validQuery(4, 'example.com', MX),
      validQuery(5, `big.alice.${domain}`, TXT, true),
      validQuery(6, `www.alice.${domain}`, A),
      validQuery(7, domain, SOA),
      validQuery(8, domain, CAA, true),
      validQuery(9, `alice.${domain}`, ANY),
    ];
  }

  /** An integer in [0, max). */
  int(max: number): number {
    return Math.floor(this.rng.next() * max);
  }

  bytes(length: number): Buffer {
    return this.rng.bytes(length);
  }

  pick<T>(items: readonly T[]): T {
    return this.rng.pick(items);
  }

  /** One of the real queries the mutations start from, with a fresh random id. */
  seed(): Buffer {
    const seed = Buffer.from(this.pick(this.seeds));
    seed.writeUInt16BE(this.int(0x10000), 0);
    return seed;
  }

  /** A hostile message and the mutation that made it. */
  next(): { mutation: Mutation; packet: Buffer } {
    const mutation = this.pick(MUTATIONS);
    return { mutation, packet: this.mutate(mutation) };
  }

  /**
   * A hostile message that still has a full header with QR=0: the server must answer it (an
   * error code at least) rather than drop it, and over TCP it must not end the connection.
   */
  answerable(): Buffer {
    const { packet } = this.next();
    const padded = packet.length >= 12 ? packet : Buffer.concat([packet, this.bytes(12 - packet.length)]);
    padded[2] = padded[2]! & 0x7f;
    return padded;
  }

  mutate(mutation: Mutation): Buffer {
    const seed = this.seed();
    switch (mutation) {
      case 'random-bytes':
        return this.bytes(this.int(600));
      case 'truncated':
        return seed.subarray(0, this.int(seed.length));
      case 'bit-flips': {
        for (let flips = 1 + this.int(8); flips > 0; flips--) seed[this.int(seed.length)]! ^= 1 << this.int(8);
        return seed;
      }
      case 'extended':
        return Buffer.concat([seed, this.bytes(1 + this.int(this.int(2) === 0 ? 64 : 1500))]);
      case 'bogus-counts': {
        // Counts that lie both ways: sections announced but missing, or junk not announced.
        for (let i = 0; i < 4; i++) if (this.int(2) === 0) seed.writeUInt16BE(this.pick([0, 1, 2, 3, 255, 0x7fff, 0xffff, this.int(0x10000)]), 4 + 2 * i);
        return this.int(2) === 0 ? seed : Buffer.concat([seed, this.bytes(this.int(40))]);
      }
      case 'compression-loop':
        return this.compressionLoop();
      case 'huge-labels':
        return this.hugeLabels();
      case 'edns-options':
        return this.ednsOptions(seed);
      case 'response': {
        seed[2] = seed[2]! | 0x80;
        if (this.int(2) === 0) seed[3] = this.int(256);
        return seed;
      }
      case 'header-flags': {
        // Opcodes 1-15, TC, AA, Z, AD/CD and an rcode set in a query.
        seed.writeUInt16BE(this.int(0x10000) & 0x7fff, 2);
        return seed;
      }
      case 'odd-question':
        return this.oddQuestion();
      case 'spliced': {
        const other = this.seed();
        return Buffer.concat([seed.subarray(0, this.int(seed.length + 1)), other.subarray(this.int(other.length))]);
      }
    }
  }

  private compressionLoop(): Buffer {
    const id = this.int(0x10000);
    const tail = u16(Packet.TYPE.A, Packet.CLASS.IN);
    switch (this.int(6)) {
      case 0: // the question's name points at itself
        return Buffer.concat([header(id, 0x0100, [1, 0, 0, 0]), Buffer.from([0xc0, 12]), tail]);
      case 1: { // two pointers pointing at each other
        return Buffer.concat([header(id, 0x0100, [1, 0, 0, 0]), Buffer.from([0xc0, 14, 0xc0, 12]), tail]);
      }
      case 2: { // a label, then a pointer back to the label: an endless name
        return Buffer.concat([header(id, 0x0100, [1, 0, 0, 0]), Buffer.from([3, 0x61, 0x62, 0x63, 0xc0, 12]), tail]);
      }
      case 3: { // a pointer past the end, or into the header
        return Buffer.concat([header(id, 0x0100, [1, 0, 0, 0]), Buffer.from([0xc0 | this.int(64), this.int(256)]), tail]);
      }
      case 4: { // a long chain of pointers, each to the one before: finite but deep
        // Header, the question (a pointer, type, class) at 12, then a label and the chain at 18.
        const chain: Buffer[] = [Buffer.from([1, 0x78, 0])];
        let previous = 18;
        let offset = 21;
        for (let hops = 1 + this.int(300); hops > 0; hops--, offset += 2) {
          chain.push(Buffer.from([0xc0 | (previous >> 8), previous & 0xff]));
          previous = offset;
        }
        return Buffer.concat([header(id, 0x0100, [1, 0, 0, 0]), Buffer.from([0xc0 | (previous >> 8), previous & 0xff]), tail, ...chain]);
      }
      default: { // a record in the answer section whose owner loops
        const question = this.seed().subarray(12);
        const loopAt = 12 + question.length;
        return Buffer.concat([header(id, 0x0100, [1, 1, 0, 0]), question, Buffer.from([0xc0 | (loopAt >> 8), loopAt & 0xff]), u16(1, 1, 0, 60, 4), Buffer.from([1, 2, 3, 4])]);
      }
    }
  }

  private hugeLabels(): Buffer {
    const id = this.int(0x10000);
    const label = (length: number): Buffer => Buffer.alloc(length, 0x61 + this.int(26));
    let name: Buffer;
    switch (this.int(5)) {
      case 0: // labels of 63: a name over 255 bytes
        name = wireName(Array.from({ length: 2 + this.int(6) }, () => label(63)));
        break;
      case 1: // 127 one-byte labels and more
        name = wireName(Array.from({ length: 100 + this.int(60) }, () => label(1)));
        break;
      case 2: { // a length byte of 64-191: the reserved label types (0x40, 0x80)
        const length = 64 + this.int(128);
        name = Buffer.concat([Buffer.from([length]), label(Math.min(length, 63 + this.int(200))), Buffer.from([0])]);
        break;
      }
      case 3: // a label claiming more bytes than the message has
        name = Buffer.from([63, 0x61, 0x62]);
        break;
      default: // binary and dotted label contents
        name = wireName([Buffer.from('a.b'), this.bytes(1 + this.int(63)), Buffer.from('udns')]);
    }
    return Buffer.concat([header(id, 0x0100, [1, 0, 0, 0]), name, u16(this.pick([1, 16, 255, 0, 0xffff]), 1)]);
  }

  private ednsOptions(seed: Buffer): Buffer {
    // Drop any OPT the seed had: one question left, then our own additional records.
    const question = seed.subarray(12, 12 + this.questionLength(seed));
    const opts: Buffer[] = [];
    const optCount = this.pick([1, 1, 1, 2, 3]);
    for (let i = 0; i < optCount; i++) {
      const options: Buffer[] = [];
      for (let n = this.int(5); n > 0; n--) {
        const code = this.pick([3, 8, 10, 11, 12, 15, this.int(0x10000)]); // NSID, ECS, COOKIE, keepalive, padding, EDE
        const data = this.bytes(this.pick([0, 1, 2, 4, 8, 16, 40, this.int(300)]));
        // Option lengths that are right, short, long, or the maximum.
        const length = this.pick([data.length, data.length, data.length + 1 + this.int(10), Math.max(0, data.length - 1), 0xffff]);
        options.push(u16(code, length), data);
      }
      const rdata = Buffer.concat(options);
      const rdlength = this.int(4) === 0 ? this.int(0x10000) : rdata.length;
      const owner = this.int(6) === 0 ? Buffer.from([1, 0x61, 0]) : Buffer.from([0]);
      const size = this.pick([0, 1, 511, 512, 1232, 4096, 65535, this.int(0x10000)]);
      const version = this.int(4) === 0 ? this.int(256) : 0;
      const flags = this.int(2) === 0 ? 0x8000 : this.int(0x10000); // DO, or anything
      const ttl = Buffer.from([this.int(4) === 0 ? this.int(256) : 0, version, flags >> 8, flags & 0xff]);
      opts.push(owner, u16(41, size), ttl, u16(rdlength), rdata);
    }
    const inAnswer = this.int(8) === 0;
    const counts: [number, number, number, number] = inAnswer ? [1, optCount, 0, 0] : [1, 0, 0, optCount];
    return Buffer.concat([header(seed.readUInt16BE(0), 0x0100, counts), question, ...opts]);
  }

  /** Bytes of the first question of a well-formed seed (name, type, class). */
  private questionLength(seed: Buffer): number {
    let offset = 12;
    while (offset < seed.length && seed[offset] !== 0) offset += seed[offset]! + 1;
    return offset + 1 + 4 - 12;
  }

  private oddQuestion(): Buffer {
    const id = this.int(0x10000);
    const type = this.pick([0, 3, 4, 251, 252, 253, 254, 255, 65535, this.int(0x10000)]); // MD, MF, IXFR, AXFR, MAILB, MAILA, ANY
    const cls = this.pick([0, 2, 3, 4, 254, 255, this.int(0x10000)]); // CS, CH, HS, NONE, ANY
    const name = wireName(['alice', 'udns', 'test'].map((label) => Buffer.from(label)));
    const question = Buffer.concat([name, u16(type, cls)]);
    switch (this.int(4)) {
      case 0: return Buffer.concat([header(id, 0x0100, [1, 0, 0, 0]), question]);
      case 1: return Buffer.concat([header(id, 0x0100, [2, 0, 0, 0]), question, question]);
      case 2: return header(id, 0x0100, [0, 0, 0, 0]);
      default: return Buffer.concat([header(id, 0x0100, [1, 0, 0, 0]), Buffer.from([0]), u16(type, cls)]);
    }
  }
}

/** One way of writing a TCP session's bytes to the server. */
export type TcpPlan = {
  /** Chunks to write, in order (already split at random points). */
  chunks: Buffer[];
  /** How the client ends: half-close and wait for the server, or reset after a moment. */
  end: 'end' | 'destroy';
  /**
   * For sessions whose framing is intact and every message answerable: the ids the answers
   * must carry, one each (a multiset). null when the session breaks framing on purpose.
   */
  expectIds: number[] | null;
  /** Messages (framed or not) the session carries. */
  messages: number;
  kind: 'pipelined' | 'broken-length' | 'random-stream' | 'mixed';
};

/** Splits `bytes` at `cuts` random points. */
export function splitAt(fuzz: DnsFuzzer, bytes: Buffer, cuts: number): Buffer[] {
  const points = Array.from({ length: cuts }, () => fuzz.int(bytes.length + 1)).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const point of points) {
    if (point > from) chunks.push(bytes.subarray(from, point));
    from = Math.max(from, point);
  }
  if (from < bytes.length) chunks.push(bytes.subarray(from));
  return chunks;
}

/**
 * A TCP session of about `messages` hostile messages:
 * - `pipelined`: every message answerable, framed right, with valid canary queries among them,
 *   all in one stream split at random points: each must get exactly one answer;
 * - `broken-length`: framing that lies (a length longer than what follows, zero, one, the
 *   maximum) somewhere in the stream;
 * - `random-stream`: random bytes;
 * - `mixed`: any hostile message framed right, responses and headerless ones included (either
 *   may end the connection on purpose).
 */
export function tcpPlan(fuzz: DnsFuzzer, messages: number, canary: (id: number) => Buffer, nextCanaryId: () => number): TcpPlan {
  const kind = fuzz.pick(['pipelined', 'pipelined', 'broken-length', 'random-stream', 'mixed'] as const);
  const end = fuzz.int(4) === 0 ? 'destroy' : 'end';
  if (kind === 'pipelined') {
    const frames: Buffer[] = [];
    const expectIds: number[] = [];
    for (let i = 0; i < messages; i++) {
      if (fuzz.int(8) === 0) {
        const id = nextCanaryId();
        frames.push(frame(canary(id)));
        expectIds.push(id);
      } else {
        const packet = fuzz.answerable();
        frames.push(frame(packet));
        expectIds.push(packet.readUInt16BE(0));
      }
    }
    const id = nextCanaryId();
    frames.push(frame(canary(id)));
    expectIds.push(id);
    const stream = Buffer.concat(frames);
    return { chunks: splitAt(fuzz, stream, fuzz.int(2) === 0 ? fuzz.int(4) : fuzz.int(stream.length / 4)), end: 'end', expectIds, messages: messages + 1, kind };
  }
  if (kind === 'random-stream') {
    const stream = fuzz.bytes(1 + fuzz.int(messages * 40));
    return { chunks: splitAt(fuzz, stream, fuzz.int(4)), end, expectIds: null, messages, kind };
  }
  const frames: Buffer[] = [];
  for (let i = 0; i < messages; i++) frames.push(frame(kind === 'mixed' ? fuzz.next().packet : fuzz.answerable()));
  if (kind === 'broken-length') {
    const at = fuzz.int(frames.length);
    const broken = Buffer.from(frames[at]!);
    const body = broken.length - 2;
    broken.writeUInt16BE(fuzz.pick([0, 1, 11, body + 1 + fuzz.int(100), 0xffff, Math.max(0, body - 1 - fuzz.int(8))]), 0);
    frames[at] = fuzz.int(4) === 0 ? broken.subarray(0, 1) : broken;
  }
  const stream = Buffer.concat(frames);
  return { chunks: splitAt(fuzz, stream, fuzz.int(6)), end, expectIds: null, messages, kind };
}

/** Every length-prefixed message in `stream`, as far as whole ones go. */
export function unframe(stream: Buffer): Buffer[] {
  const messages: Buffer[] = [];
  for (let offset = 0; offset + 2 <= stream.length;) {
    const length = stream.readUInt16BE(offset);
    if (offset + 2 + length > stream.length) break;
    messages.push(stream.subarray(offset + 2, offset + 2 + length));
    offset += 2 + length;
  }
  return messages;
}

/**
 * What must hold for every response an authoritative server sends, whatever it was asked:
 * it parses cleanly, is a response (QR=1), and carries only names of its own zone.
 * Returns the problem, or null.
 */
export function responseProblem(message: Buffer, domain: string, maxBytes: number): string | null {
  if (message.length > maxBytes) return `response of ${message.length} bytes, limit ${maxBytes}`;
  let parsed: dns2.Packet;
  try {
    parsed = Packet.parse(message);
  } catch (error) {
    return `response does not parse: ${(error as Error).message}`;
  }
  if (parsed.errors.length > 0) return `response parses with errors: ${parsed.errors.join('; ')}`;
  if (parsed.header.qr !== 1) return 'response with QR=0';
  const inZone = (name: string): boolean => {
    const lower = name.toLowerCase();
    return lower === domain || lower.endsWith(`.${domain}`);
  };
  for (const record of [...parsed.answers, ...parsed.authorities]) {
    if (!inZone(record.name)) return `record for ${record.name} outside the zone`;
  }
  return null;
}
