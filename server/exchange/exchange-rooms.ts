import type { Router } from 'express';
import type { AccountStore } from '../accounts/account-store.js';
import type { EdgeConfig } from '../config.js';
import { createKeysRouter } from '../keys/keys-api.js';
import { openSigningKeyStore } from '../keys/signing-key-store.js';
import type { Logger } from '../logger.js';
import type { PublicUrls } from '../public-urls.js';
import type { TransferLog } from '../transfers/transfer-log.js';
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js';

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
  // Members' public signing keys (server/keys/): the escrow checks offers and acceptances with them.
  const keys = openSigningKeyStore(deps.store);
  apiRouters.push(createKeysRouter(keys));
  void deps;
  return {
    apiRouters,
    pageRouters,
    async close() {
      for (const close of closers.reverse()) await close();
    },
  };
}
