import type { Router } from 'express';
import type { CreditBook } from '../ledger/credit-book.js';
import type { LedgerLog } from '../ledger/ledger-log.js';
import { clientAddress } from '../proxy/trusted-proxies.js';
import { createSearchIndex } from '../search/sql-search-index.js';
import type { ExchangeDeps } from './exchange-rooms.js';
import { Escrow, type MemberKeys } from './escrow.js';
import { createPurchasesRouter } from './purchases-api.js';
import { SaleDesk, sellerLine } from './sale-desk.js';
import { SaleStore } from './sale-store.js';
import { SaleSweeper } from './sale-sweeper.js';

/** The escrow as the edge runs it: the state machine, its control messages, sweeper and API. */
export interface EscrowRoom {
  readonly escrow: Escrow;
  readonly router: Router;
  close(): Promise<void>;
}

/**
 * Opens the escrow beside the books and the ledger: hooks the tunnels' sale messages, starts the
 * sweeper (which at once ends what a crash left past its deadline) and builds the purchases API.
 */
export function openEscrowRoom(deps: ExchangeDeps, parts: { books: CreditBook; ledger: LedgerLog; keys: MemberKeys }): EscrowRoom {
  const { registry } = deps;
  const logger = deps.logger.child({ component: 'escrow' });
  const escrow = new Escrow({
    sales: new SaleStore(deps.store),
    files: createSearchIndex(deps.store),
    books: parts.books,
    ledger: parts.ledger,
    keys: parts.keys,
    sellers: (label, sellerId) => sellerLine(registry, label, sellerId),
    settings: () => {
      const config = deps.config();
      return { offerTimeoutMs: config.offerTimeout, saleTimeoutMs: config.saleTimeout, disputeWindowMs: config.disputeWindow };
    },
    urls: deps.urls,
    logger,
  });
  registry.saleDesk = new SaleDesk(escrow);
  const sweeper = new SaleSweeper(escrow, logger);
  const router = createPurchasesRouter({
    escrow,
    domain: deps.urls.domain,
    tickets: () => registry.ticketOffice,
    servedBy: (label, sellerId) => sellerLine(registry, label, sellerId) !== null,
    clientOf: (req) => clientAddress(req, deps.config().trustedProxy),
  });
  return {
    escrow,
    router,
    async close() {
      registry.saleDesk = null;
      await sweeper.close();
    },
  };
}
