import type { Router } from 'express';
import { storeDatabase, type AccountStore } from '../accounts/account-store.js';
import type { EdgeConfig } from '../config.js';
import { createKeysRouter } from '../keys/keys-api.js';
import { keyLedgerOf, openSigningKeyStore } from '../keys/signing-key-store.js';
import { openCreditBook } from '../ledger/credit-book.js';
import { createCreditsRouter } from '../ledger/credits-api.js';
import { createLedgerRouter } from '../ledger/ledger-api.js';
import { openLedgerLog, type LedgerLog } from '../ledger/ledger-log.js';
import type { Logger } from '../logger.js';
import { openEscrowRoom } from './escrow-room.js';
import type { PublicUrls } from '../public-urls.js';
import type { TransferLog } from '../transfers/transfer-log.js';
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js';
import { createSearchIndex } from '../search/sql-search-index.js';
import { searchSessionToken } from '../search/search-api.js';
import { openRatingStore } from '../trust/rating-store.js';
import { createMemberPageRouter, createTrustRouter } from '../trust/trust-api.js';
import { startTrustRefresh } from '../trust/trust-refresh.js';

/**
 * Credits, the ledger, the escrow and trust (issue 11), opened together beside the edge's other
 * services: each room (server/ledger/, server/exchange/, server/trust/) keeps its state in the
 * member database, so several edges can share it through PostgreSQL.
 */
export interface ExchangeRooms {
  /** Mounted under /api/v1 behind the token check; `res.locals.account` is the caller. */
  readonly apiRouters: Router[];
  /** Mounted on the apex before the token check (public pages and read-only JSON). */
  readonly pageRouters: Router[];
  /** Stops timers and flushes; does not close the account store. */
  close(): Promise<void>;
}

export interface ExchangeDeps {
  readonly store: AccountStore;
  readonly registry: TunnelRegistry;
  /** The live configuration: reloads (SIGHUP) replace what `config()` returns. */
  readonly config: () => EdgeConfig;
  readonly urls: PublicUrls;
  readonly logger: Logger;
  readonly transferLog: TransferLog;
}

export async function openExchangeRooms(deps: ExchangeDeps): Promise<ExchangeRooms> {
  const apiRouters: Router[] = [];
  const pageRouters: Router[] = [];
  const closers: Array<() => Promise<void> | void> = [];
  // The ledger (server/ledger/): the tamper-evident record every room below appends to, inside
  // ledgerTx (server/ledger/ledger-tx.ts) with what it records. Completed file transfers join it
  // from the transfer log; GET /api/v1/ledger/* serve signed heads and proofs.
  const ledger: LedgerLog = await openLedgerLog(deps.store, { dataDir: deps.config().dataDir, logger: deps.logger.child({ component: 'ledger' }) });
  closers.push(() => ledger.close());
  deps.transferLog.attachLedger(ledger);
  apiRouters.push(createLedgerRouter(ledger));
  // Credits (server/ledger/credit-book.ts): every movement is double entry with its ledger entry;
  // GET /api/v1/credits, POST /api/v1/credits/send and /grant. The escrow moves through it too.
  const credits = openCreditBook(deps.store, ledger);
  apiRouters.push(createCreditsRouter(credits));
  // Members' public signing keys (server/keys/): the escrow checks offers and acceptances with
  // them; each new key is a `key` entry in the ledger.
  const keys = openSigningKeyStore(deps.store, keyLedgerOf(deps.store, ledger));
  apiRouters.push(createKeysRouter(keys));
  // Trust (server/trust/): ratings of completed purchases (POST /api/v1/purchases/:id/rating, a
  // ledger entry each), sellers' scores recomputed into TrustScore every minute and after each
  // rating (GET /api/v1/trust/:account; search hits join them), and the apex pages /members/<account>.
  const trustDb = storeDatabase(deps.store);
  const refresher = startTrustRefresh(trustDb, { logger: deps.logger.child({ component: 'trust' }) });
  closers.push(() => refresher.close());
  const ratings = openRatingStore(trustDb, ledger, { onRated: () => refresher.schedule() });
  const trust = { ratings, refresher, accountIdOf: (name: string) => keys.accountIdOf(name) };
  apiRouters.push(createTrustRouter(trust));
  pageRouters.push(createMemberPageRouter({
    ...trust,
    index: createSearchIndex(deps.store),
    urls: deps.urls,
    searchMode: () => deps.config().search,
    signedIn: async (req) => {
      const token = searchSessionToken(req);
      return token !== null && (await deps.store.authenticate(token)) !== null;
    },
  }));
  // The escrow (server/exchange/): sales as a state machine over the books and the ledger, the
  // sellers' sale messages, the sweeper of deadlines, and /api/v1/purchases….
  const escrow = openEscrowRoom(deps, { books: credits, ledger, keys });
  apiRouters.push(escrow.router);
  closers.push(() => escrow.close());
  void deps;
  return {
    apiRouters,
    pageRouters,
    async close() {
      for (const close of closers.reverse()) await close();
    },
  };
}
