import { asciiLowercase } from './zone-records.js';
import { stillReadsTheSame, type ZoneRead } from './zone-reads.js';
import type { ZoneView } from './zone.js';

/** How much the answer cache may hold. */
export interface AnswerCacheLimits {
  /** Answers kept at most. */
  maxEntries: number;
  /** Bytes kept at most, counting each entry's query, response and zone reads (estimated). */
  maxBytes: number;
}

/**
 * Defaults: 16,384 answers in at most 8 MiB — every question a zone of a few thousand names
 * gets, a few EDNS variants each, while a flood of distinct names can cost no more than that.
 */
export const ANSWER_CACHE_DEFAULTS: Readonly<AnswerCacheLimits> = Object.freeze({
  maxEntries: 16_384,
  maxBytes: 8 * 1024 * 1024,
});

const HEADER_BYTES = 12;
/** Longest query worth keeping: a question plus an OPT with a cookie or two fit easily. */
const MAX_KEY_BYTES = 512;
const MAX_NAME_BYTES = 255;
/** What an entry costs beyond its bytes (Map slot, objects), and each zone read: estimates. */
const ENTRY_OVERHEAD_BYTES = 160;
const READ_OVERHEAD_BYTES = 64;

/** The transport an answer was built for: UDP answers are cut to the client's size, TCP ones are not. */
export type Transport = 'udp' | 'tcp';
const TCP_KEY_MARK = '\u0100';

interface Entry {
  /** The response to the query that was first seen with this key, as it was sent. */
  readonly response: Buffer;
  /** Where the question's name ends in both query and response (they share bytes 12..nameEnd). */
  readonly nameEnd: number;
  /** What building the response read from the zone: while it reads the same, the response holds. */
  readonly reads: readonly ZoneRead[];
  readonly bytes: number;
  /** Served since the eviction hand last passed it (second-chance eviction). */
  used: boolean;
}

/** A query as the cache sees it. */
interface QueryKey {
  /** Everything after the ID, with the question's name in ASCII lowercase. */
  key: string;
  nameEnd: number;
}

/**
 * The cache key of a query, or null when the query is not the plain kind worth caching: a
 * query (QR=0) with exactly one question whose name is written out in labels (no pointer),
 * within {@link MAX_KEY_BYTES}. The key is the whole message after the 2-byte ID — flags,
 * counts, question, EDNS record with its size, DO bit and options — so two queries with one
 * key can only differ in their ID and in the case of the question's name.
 */
function keyOf(query: Buffer, transport: Transport): QueryKey | null {
  if (query.length < HEADER_BYTES + 5 || query.length > MAX_KEY_BYTES) return null;
  if ((query[2]! & 0x80) !== 0 || query[4] !== 0 || query[5] !== 1) return null;
  let at = HEADER_BYTES;
  let upper = false;
  for (;;) {
    const length = query[at];
    if (length === undefined || length > 63) return null;
    if (length === 0) break;
    for (let i = at + 1; i <= at + length; i++) {
      const byte = query[i]!;
      if (byte >= 0x41 && byte <= 0x5a) upper = true;
    }
    at += length + 1;
    if (at - HEADER_BYTES >= MAX_NAME_BYTES) return null;
  }
  const nameEnd = at + 1;
  if (nameEnd + 4 > query.length) return null;
  let key = query.toString('latin1', 2);
  // 0x20-randomising resolvers mix the case of every query; their answers differ only there.
  const nameStart = HEADER_BYTES - 2;
  const nameStop = nameEnd - 2;
  if (upper) key = key.slice(0, nameStart) + asciiLowercase(key.slice(nameStart, nameStop)) + key.slice(nameStop);
  // A TCP answer is never truncated for size, a UDP one may be: they are kept apart. No byte
  // read as latin1 gives U+0100, so no UDP key can equal a TCP one.
  if (transport === 'tcp') key += TCP_KEY_MARK;
  return { key, nameEnd };
}

/**
 * Encoded answers (UDP and TCP apart), reused for queries that differ only in their ID and the case of the
 * question's name: a hit copies the response and writes the query's ID and name bytes into it,
 * instead of parsing, looking up and encoding again (most of the server's time per query).
 *
 * An entry is used only while the zone still reads as it did when the answer was built
 * (see `RecordingZone`): every hit re-reads what the answer depended on — the owner's records,
 * whether the label is claimed, the serial for an SOA, the CAA set… — so no change to the zone,
 * by whatever path, can leave a stale answer behind. Bounded by entries and bytes; when full,
 * the oldest entries not served since the eviction hand last passed them go first.
 *
 * Rate limiting stays in front of it: the server asks only for queries it decided to answer.
 */
export class AnswerCache {
  /** Insertion order doubles as the eviction hand's path. */
  private readonly entries = new Map<string, Entry>();
  private heldBytes = 0;

  constructor(readonly limits: Readonly<AnswerCacheLimits>) {}

  /** Answers held. */
  get size(): number {
    return this.entries.size;
  }

  /** Estimated bytes held. */
  get bytes(): number {
    return this.heldBytes;
  }

  /**
   * The response to `query`, received over `transport`, when one is cached and `zone` still reads as it did for it: a new
   * buffer carrying the query's ID and question name. A stale entry is dropped. Null otherwise.
   */
  answer(query: Buffer, zone: ZoneView, transport: Transport = 'udp'): Buffer | null {
    const queryKey = keyOf(query, transport);
    if (queryKey === null) return null;
    const entry = this.entries.get(queryKey.key);
    if (entry === undefined) return null;
    let current: boolean;
    try {
      current = stillReadsTheSame(zone, entry.reads);
    } catch {
      // The zone failed to answer (it is the caller's to report, when it builds the answer).
      current = false;
    }
    if (!current) {
      this.delete(queryKey.key, entry);
      return null;
    }
    entry.used = true;
    const response = Buffer.allocUnsafe(entry.response.length);
    response.set(entry.response);
    // The query's ID, then its name as it spelled it (0x20 case and all).
    response[0] = query[0]!;
    response[1] = query[1]!;
    for (let i = HEADER_BYTES; i < entry.nameEnd; i++) response[i] = query[i]!;
    return response;
  }

  /**
   * Keeps `response`, built for `query` over `transport` from the zone `reads`, for later queries with the same
   * key. Ignored when the query is not cacheable or the response does not echo the query's
   * question name byte for byte (the only part, with the ID, a hit rewrites).
   */
  remember(query: Buffer, response: Buffer, reads: readonly ZoneRead[], transport: Transport = 'udp'): void {
    const queryKey = keyOf(query, transport);
    if (queryKey === null) return;
    const { key, nameEnd } = queryKey;
    if (response.length < nameEnd || response.compare(query, HEADER_BYTES, nameEnd, HEADER_BYTES, nameEnd) !== 0) return;
    const bytes = key.length + response.length + reads.length * READ_OVERHEAD_BYTES + ENTRY_OVERHEAD_BYTES;
    if (bytes > this.limits.maxBytes) return;
    const previous = this.entries.get(key);
    if (previous !== undefined) this.delete(key, previous);
    while (this.entries.size > 0 && (this.entries.size >= this.limits.maxEntries || this.heldBytes + bytes > this.limits.maxBytes)) this.evictOne();
    this.entries.set(key, { response: Buffer.from(response), nameEnd, reads, bytes, used: false });
    this.heldBytes += bytes;
  }

  /** Drops everything. */
  clear(): void {
    this.entries.clear();
    this.heldBytes = 0;
  }

  /**
   * Second chance: the oldest entry goes unless it was served since it was last looked at,
   * in which case it moves to the back, unmarked. Ends by the start of a second pass, when
   * every entry has been unmarked.
   */
  private evictOne(): void {
    for (const [key, entry] of this.entries) {
      this.entries.delete(key);
      if (entry.used) {
        entry.used = false;
        this.entries.set(key, entry);
      } else {
        this.heldBytes -= entry.bytes;
        return;
      }
    }
  }

  private delete(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.heldBytes -= entry.bytes;
  }
}
