import type { IndexEntry } from '../../protocol/index-sync.js';

/*
 * The members' index as the rest of the edge sees it: listed shares and their files, kept in
 * the member database (SQLite FTS5 or PostgreSQL) so that several edges can share it. Only
 * server/search/ talks SQL for it; callers get plain objects.
 */

/** Search media-type families, for `--type`. */
export const MEDIA_KINDS = ['pdf', 'document', 'spreadsheet', 'presentation', 'image', 'video', 'audio', 'archive', 'text', 'code', 'other'] as const;
export type MediaKind = (typeof MEDIA_KINDS)[number];

/** A listed share: one name (DNS label) serving a folder share with `--list`. */
export interface ListedShare {
  /** The share's name, e.g. `alice-photos`. */
  readonly label: string;
  readonly accountId: number;
  readonly locked: boolean;
  /** ms since the epoch, or null. */
  readonly expiresAt: number | null;
  /** A tunnel serves it now (as last recorded by the edge that holds the tunnel). */
  readonly online: boolean;
  /** The sharer's agent answers transfers on its own address (direct path); null while unknown. */
  readonly reachable: boolean | null;
  readonly entries: number;
}

/** A seller's trust (protocol/exchange.ts TrustView): score with one decimal, null before any counted rating. */
export interface SellerTrustView {
  readonly score: number | null;
  readonly ratings: number;
  readonly disputesLost: number;
}

/** One listed file as the escrow needs it (lookupFile). */
export interface IndexedFileLookup {
  /** The sharer's account id. */
  readonly ownerId: number;
  /** A tunnel serves the share now. */
  readonly online: boolean;
  readonly size: number;
  readonly sha256: string | null;
  /** Credits; null for a free file. */
  readonly price: number | null;
  /** Hex plaintext Merkle root of a paid file; null for a free one. */
  readonly merkleRoot: string | null;
}

/** One search hit. */
export interface SearchHit {
  readonly label: string;
  /** Owner's account name. */
  readonly owner: string;
  readonly path: string;
  readonly size: number;
  readonly mtime: number;
  readonly type: string;
  readonly sha256: string | null;
  /** Credits a paid file costs; null for a free one. */
  readonly price: number | null;
  /** The sharer's trust as server/trust/ last computed it. */
  readonly trust: SellerTrustView;
  readonly locked: boolean;
  readonly online: boolean;
  /** The sharer's agent is reachable for a direct transfer; null while unknown. */
  readonly reachable: boolean | null;
  /** The ranking score the order came from (higher first); see docs/decisions.md. */
  readonly score: number;
}

export interface SearchQuery {
  /** Words as typed; every word must occur in the file's name or folder (a part of a word is enough). */
  readonly words: readonly string[];
  readonly kind?: MediaKind;
  readonly minSize?: number;
  readonly maxSize?: number;
  /** Owner account name. */
  readonly owner?: string;
  /** Include shares whose agent is offline (`--search-offline show`, the default). */
  readonly includeOffline: boolean;
  readonly limit: number;
  readonly offset: number;
  /** "Now" for expiry, ms since the epoch. */
  readonly nowMs: number;
}

/** What a search returns. */
export interface SearchResult {
  readonly hits: SearchHit[];
  /** Matching files (a lower bound when `truncated`). */
  readonly total: number;
  /**
   * More files matched the words than the edge ranks for one query (SEARCH_CANDIDATES in
   * sql-search-index.ts): `total` counts those it ranked and the hits are the best of them.
   * Show "N+ results" and suggest more words. Absent or false: total and order are exact.
   */
  readonly truncated?: boolean;
}

/** Limits the store enforces inside its transactions (so two edges cannot overshoot them together). */
export interface IndexLimits {
  readonly entriesPerShare: number;
  readonly entriesPerAccount: number;
}

/** What applying a batch did. */
export type ApplyOutcome = { ok: true; entries: number } | { ok: false; code: 'index_limit'; message: string };

export interface SearchIndex {
  /**
   * Creates or updates a listed share (on `listShare`) for a name the account owns, marks it
   * online, and returns its bucket digests as the edge stored them (INDEX_BUCKETS long).
   */
  openShare(share: { label: string; accountId: number; locked: boolean; expiresAt: number | null }): Promise<Uint32Array>;
  /**
   * Applies one batch in one transaction: deletes the entries of `reset` buckets, then the
   * removes, then the upserts. Nothing changes when a limit would be exceeded.
   */
  applyBatch(label: string, batch: { reset: readonly number[]; upserts: readonly IndexEntry[]; removes: readonly string[] }, limits: IndexLimits): Promise<ApplyOutcome>;
  /** Marks the share offline (its tunnel went away) without dropping its entries. */
  setOnline(label: string, online: boolean): Promise<void>;
  /** Records the latest reachability check of the share's agent (direct path), null when none. */
  setReachable(label: string, reachable: boolean | null): Promise<void>;
  /** Marks every share offline: an edge starting up holds no tunnel yet (single-edge setups). */
  markAllOffline(): Promise<void>;
  /** Drops a share and its entries (unlisted, stopped, expired, or its name released). */
  removeShare(label: string): Promise<void>;
  /** Drops every share whose expiry is past; returns how many. */
  removeExpired(nowMs: number): Promise<number>;
  getShare(label: string): Promise<ListedShare | null>;
  /**
   * One listed file by share name and path (for the escrow): its owner, size, SHA-256, price and
   * Merkle root; null when the share is not listed (or expired) or has no such file.
   */
  lookupFile(label: string, path: string, nowMs: number): Promise<IndexedFileLookup | null>;
  /** The listed shares of one account, by name. */
  sharesOf(accountId: number): Promise<ListedShare[]>;
  search(query: SearchQuery): Promise<SearchResult>;
}
