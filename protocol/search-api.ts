import { z } from 'zod';
import type { TrustView } from './exchange.js';

/*
 * The members' search as the edge's HTTP API shows it (`GET /api/v1/search`), shared by the
 * edge (which answers it), the apex search page and `udns search` (which print it).
 *
 * Parameters (query string, each at most once):
 *   q         words, required: at most SEARCH_MAX_QUERY_CHARS characters, SEARCH_MAX_WORDS words
 *             of at most SEARCH_MAX_WORD_CHARS characters;
 *             every word must occur in the file's name or folder (a part of a word is enough)
 *   type      a media family (pdf, image, video, audio, …: SEARCH_MEDIA_KINDS)
 *   minSize, maxSize   bytes, or with a binary unit: `500k`, `10M`, `1.5G`, `2TiB`
 *   owner     the sharer's account name
 *   limit     1 to SEARCH_MAX_LIMIT (default SEARCH_DEFAULT_LIMIT); offset 0 to SEARCH_MAX_OFFSET
 * Answers `SearchResponse`; a bad parameter answers 400 `bad_request` naming it.
 */

/** Media families for `type` (the store's MediaKind, repeated here because protocol/ imports nothing of server/). */
export const SEARCH_MEDIA_KINDS = ['pdf', 'document', 'spreadsheet', 'presentation', 'image', 'video', 'audio', 'archive', 'text', 'code', 'other'] as const;
export type SearchMediaKind = (typeof SEARCH_MEDIA_KINDS)[number];

export const SEARCH_MAX_QUERY_CHARS = 256;
export const SEARCH_MAX_WORDS = 16;
/** One word longer than this names no file anyone is looking for. */
export const SEARCH_MAX_WORD_CHARS = 100;
export const SEARCH_DEFAULT_LIMIT = 20;
export const SEARCH_MAX_LIMIT = 100;
/** Deeper pages cost the database more and help nobody: refine the words instead. */
export const SEARCH_MAX_OFFSET = 10_000;

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/**
 * Parses a size as people type it: `1048576`, `500k`, `10M`, `1.5G`, `2TiB`, `3 GB` (units are
 * binary multiples, as `udns get` and the share pages print them). Null when it is not one.
 */
export function parseSize(text: string): number | null {
  const match = /^\s*(\d{1,16}(?:\.\d{1,6})?)\s*([kmgtp]?)(?:i?b)?\s*$/i.exec(text);
  if (match === null) return null;
  const bytes = Math.round(Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]!);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** Splits a query into words: whitespace separates them, nothing else (names have dots, dashes and Hangul). */
export function searchWords(q: string): string[] {
  return q.split(/\s+/u).filter((word) => word.length > 0);
}

const sizeParam = (name: string) => z.string().max(32).transform((text, context) => {
  const bytes = parseSize(text);
  if (bytes === null) {
    context.addIssue({ code: 'custom', message: `${name} must be bytes or a size such as 500k, 10M or 1.5G, got "${text.slice(0, 32)}"` });
    return z.NEVER;
  }
  return bytes;
});

const intParam = (name: string, min: number, max: number) => z.string().max(12).transform((text, context) => {
  if (!/^\d{1,9}$/.test(text) || Number(text) < min || Number(text) > max) {
    context.addIssue({ code: 'custom', message: `${name} must be a whole number from ${min} to ${max}, got "${text.slice(0, 12)}"` });
    return z.NEVER;
  }
  return Number(text);
});

/**
 * The query string of `GET /api/v1/search` (and of the apex page), as strings in: what the
 * store is asked with out. Unknown parameters are refused, so a typo (`min_size`) is not a
 * silently broader search.
 */
export const SearchParams = z.object({
  q: z.string({ error: 'q is required: the words to search for' })
    .max(SEARCH_MAX_QUERY_CHARS * 4, `q is longer than ${SEARCH_MAX_QUERY_CHARS} characters`)
    // Characters, not UTF-16 units: 256 Hangul syllables are as welcome as 256 ASCII letters.
    .refine((q) => [...q].length <= SEARCH_MAX_QUERY_CHARS, `q is longer than ${SEARCH_MAX_QUERY_CHARS} characters`)
    .refine((q) => !/\p{Cc}/u.test(q.replace(/[\t\n\r]/g, ' ')), 'q contains control characters')
    .transform((q) => searchWords(q))
    .refine((words) => words.length > 0, 'q is empty: give at least one word to search for')
    .refine((words) => words.length <= SEARCH_MAX_WORDS, `q has more than ${SEARCH_MAX_WORDS} words`)
    .refine((words) => words.every((word) => [...word].length <= SEARCH_MAX_WORD_CHARS), `q has a word longer than ${SEARCH_MAX_WORD_CHARS} characters`),
  type: z.enum(SEARCH_MEDIA_KINDS, { error: `type must be one of ${SEARCH_MEDIA_KINDS.join(', ')}` }).optional(),
  minSize: sizeParam('minSize').optional(),
  maxSize: sizeParam('maxSize').optional(),
  owner: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'owner must be an account name (lowercase letters, digits and dashes)').optional(),
  limit: intParam('limit', 1, SEARCH_MAX_LIMIT).default(SEARCH_DEFAULT_LIMIT),
  offset: intParam('offset', 0, SEARCH_MAX_OFFSET).default(0),
}, { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown parameter ${issue.keys.join(', ')}` : undefined) })
  .strict()
  .refine((params) => params.minSize === undefined || params.maxSize === undefined || params.minSize <= params.maxSize, { error: 'minSize is larger than maxSize', path: ['minSize'] });
export type SearchParams = z.output<typeof SearchParams>;

/**
 * Checks a query string (as `URLSearchParams` or a plain record of it): the parsed parameters,
 * or one message naming every problem. A parameter given twice is a problem too.
 */
export function parseSearchParams(query: URLSearchParams): { ok: true; params: SearchParams } | { ok: false; message: string } {
  const record: Record<string, string> = {};
  const repeated = new Set<string>();
  for (const [key, value] of query) {
    if (key in record) repeated.add(key);
    record[key] = value;
  }
  if (repeated.size > 0) return { ok: false, message: `give ${[...repeated].join(', ')} at most once` };
  const result = SearchParams.safeParse(record);
  if (result.success) return { ok: true, params: result.data };
  return { ok: false, message: result.error.issues.map((issue) => issue.message).join('; ') };
}

/**
 * How `udns get` would fetch the file now:
 * - `direct`: the sharer's agent is reachable from outside, the receiver connects to it;
 * - `push/relay`: it is not (or not yet checked): the sharer pushes to the receiver when the
 *   receiver is reachable, else the edge relays. Which one is only known when the receiver asks
 *   for a ticket (the edge checks the receiver's port then), so a search cannot say;
 * - `relay`: the caller has no token (an anonymous search on a `--search public` edge): tickets
 *   for direct and push are for members, so its `udns get` goes through the edge;
 * - null: the sharer is offline, nothing can fetch it now.
 * A browser always downloads through the edge (relay): it cannot take part in direct or push.
 */
export type SearchVia = 'direct' | 'push/relay' | 'relay';

/** One hit as the API answers it. */
export interface SearchHitView {
  /** The file's name, e.g. `2024_연말보고서_최종.hwp`. */
  name: string;
  /** Its folder inside the share, `/` for the top, always ending in `/`. */
  folder: string;
  /** Its path inside the share, e.g. `/reports/2024_연말보고서_최종.hwp`. */
  path: string;
  /** Bytes. */
  size: number;
  /** Last modification, ISO 8601. */
  modified: string;
  /** Media type, e.g. `application/pdf`. */
  type: string;
  /** The sharer's account name. */
  owner: string;
  /** The share's name (a DNS label under the edge's domain). */
  share: string;
  /** The share asks for a password. */
  locked: boolean;
  /** A tunnel serves the share now. */
  online: boolean;
  /** How `udns get` would fetch it now for this caller; null while the sharer is offline. */
  via: SearchVia | null;
  /** Lowercase hex SHA-256 of the content, when the sharer's agent has computed it. */
  sha256: string | null;
  /** Credits a paid file costs (`udns get` buys it through the edge's escrow); null when free. */
  price: number | null;
  /** The sharer's trust as a seller: score 0 to 5 with one decimal (null before any counted rating). */
  trust: TrustView;
  /** The file's URL on its share: what a browser opens and `udns get` takes. */
  url: string;
  /** The ranking score the order came from (higher first). */
  score: number;
}

/** The answer of `GET /api/v1/search`. */
export interface SearchResponse {
  /** The words searched for, as the edge split them. */
  words: string[];
  hits: SearchHitView[];
  /** Hits in all, beyond this page too (a lower bound when `truncated`). */
  total: number;
  /**
   * More files matched the words than the edge ranks for one query: `total` counts those it
   * ranked and the hits are the best of them. Show "N+" and suggest more words.
   */
  truncated: boolean;
  limit: number;
  offset: number;
  /** Offline sharers' files are left out (`--search-offline hide` on the edge). */
  offlineHidden: boolean;
}

/**
 * A seller's trust in words, as the CLI and the pages print it: `trust 4.3/5 (12 ratings)`,
 * `trust 2.1/5 (3 ratings, 1 dispute lost)`, `no ratings yet`.
 */
export function trustText(trust: TrustView): string {
  const disputes = trust.disputesLost === 0 ? '' : `, ${trust.disputesLost} dispute${trust.disputesLost === 1 ? '' : 's'} lost`;
  if (trust.score === null) return 'no ratings yet';
  return `trust ${trust.score.toFixed(1)}/5 (${trust.ratings} rating${trust.ratings === 1 ? '' : 's'}${disputes})`;
}

/** Whether a hit shows its owner's trust: every paid file, and free files of owners with a score. */
export function showsTrust(hit: Pick<SearchHitView, 'price' | 'trust'>): boolean {
  return hit.price !== null || hit.trust.score !== null;
}

/** Who may search on an edge (`--search`). */
export const SEARCH_MODES = ['public', 'members', 'off'] as const;
export type SearchMode = (typeof SEARCH_MODES)[number];

/** `/reports/a.pdf` → folder `/reports/`, name `a.pdf`. */
export function splitSharePath(sharePath: string): { folder: string; name: string } {
  const cut = sharePath.lastIndexOf('/');
  return { folder: sharePath.slice(0, cut + 1) || '/', name: sharePath.slice(cut + 1) };
}

/** The path a download would take, from the share's state and whether the caller is a member (see {@link SearchVia}). */
export function searchVia(online: boolean, reachable: boolean | null, member = true): SearchVia | null {
  if (!online) return null;
  if (!member) return 'relay';
  return reachable === true ? 'direct' : 'push/relay';
}
