import type { IncomingMessage } from 'node:http';
import type express from 'express';
import type { AccountStore } from '../accounts/account-store.js';
import type { Logger } from '../logger.js';
import type { NameDirectory } from '../name-directory.js';
import { AccountSuspension } from './account-suspension.js';
import { createConsoleApiRouter, createConsoleRouter, type ConsoleDeps } from './console-router.js';
import { ConsoleSessions, type ConsoleSessionOptions } from './console-sessions.js';

/** The console's parts as the edge mounts them. */
export interface EdgeConsole {
  /** `/console…` pages, mounted before the API's token check (`pageRouters`). */
  readonly pageRouter: express.Router;
  /** `POST /api/v1/console/link`, behind the token check (`apiRouters`). */
  readonly apiRouter: express.Router;
  readonly sessions: ConsoleSessions;
  readonly suspension: AccountSuspension;
}

/** Builds the console over the edge's store, registry and token gate (see console-router.ts). */
export function openConsole(
  deps: Omit<ConsoleDeps, 'sessions' | 'suspension' | 'store'> & { store: AccountStore; clientAddress: (req: IncomingMessage) => string; directory?: Pick<NameDirectory, 'setRecordsAt'> },
  options: ConsoleSessionOptions = {},
): EdgeConsole {
  const logger = deps.logger.child({ component: 'console' });
  const sessions = new ConsoleSessions(deps.store, options);
  const suspension = new AccountSuspension(deps.store, deps.registry, sessions, logger, deps.directory);
  return {
    pageRouter: createConsoleRouter({ ...deps, logger, sessions, suspension }),
    apiRouter: createConsoleApiRouter({ sessions, urls: deps.urls, logger }),
    sessions,
    suspension,
  };
}
