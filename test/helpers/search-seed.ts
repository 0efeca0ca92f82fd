// Test support: members' index contents written through the real SearchIndex into an edge's database.
import type { IndexEntry } from '../../protocol/index-sync.js';
import { openAccountStore, type AccountStore } from '../../server/accounts/account-store.js';
import type { SearchIndex } from '../../server/search/search-index.js';
import { createSearchIndex } from '../../server/search/sql-search-index.js';

/** One listed share to seed: its owner (created when new), name, state and files. */
export interface SeedShare {
  owner: string;
  label: string;
  locked?: boolean;
  online?: boolean;
  reachable?: boolean | null;
  files: IndexEntry[];
}

/** The seeded database: tokens of the accounts it created, and the index to change more. */
export interface SearchSeed {
  readonly tokens: ReadonlyMap<string, string>;
  readonly index: SearchIndex;
  readonly store: AccountStore;
  close(): Promise<void>;
}

const GENEROUS = { entriesPerShare: 1_000_000, entriesPerAccount: 1_000_000 };

/**
 * Opens the edge's database a second time (as `udns account` does) and writes the shares
 * through the real SearchIndex: accounts, names, listed shares, entries, online and reachable.
 * `existing`: accounts already created (e.g. by an agent's login), by name, with their tokens.
 */
export async function seedSearchIndex(target: { dataDir: string; databaseUrl?: string }, shares: SeedShare[], existing: ReadonlyMap<string, string> = new Map()): Promise<SearchSeed> {
  const store = await openAccountStore(target);
  const index = createSearchIndex(store);
  const tokens = new Map(existing);
  const accountIds = new Map<string, number>();
  try {
    for (const share of shares) {
      let accountId = accountIds.get(share.owner);
      if (accountId === undefined) {
        const known = tokens.get(share.owner);
        const account = known === undefined ? await store.createAccount(share.owner).then(({ account, token }) => { tokens.set(share.owner, token); return account; }) : await store.authenticate(known);
        if (account === null) throw new Error(`no account for ${share.owner}`);
        accountId = account.id;
        accountIds.set(share.owner, accountId);
      }
      await store.claimName(accountId, share.label);
      await index.openShare({ label: share.label, accountId, locked: share.locked ?? false, expiresAt: null });
      const outcome = await index.applyBatch(share.label, { reset: [], upserts: share.files, removes: [] }, GENEROUS);
      if (!outcome.ok) throw new Error(outcome.message);
      if (share.online === false) await index.setOnline(share.label, false);
      if (share.reachable !== undefined) await index.setReachable(share.label, share.reachable);
    }
  } catch (error) {
    await store.close();
    throw error;
  }
  return { tokens, index, store, close: () => store.close() };
}

/** An entry: path, size, mtime (ms), media type and optional sha256. */
export function entry(path: string, size: number, mtime: number, type: string, sha256?: string): IndexEntry {
  return sha256 === undefined ? { path, size, mtime, type } : { path, size, mtime, type, sha256 };
}
