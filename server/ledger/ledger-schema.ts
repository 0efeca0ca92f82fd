import type { Dialect } from '../accounts/database-target.js';

/*
 * The append-only triggers of the books and the ledger and the non-negative balance rule,
 * created by the migration 20261202120000_credits_exchange_ledger: the Prisma schema cannot
 * describe them, so the migrator test leaves them out when it compares the migrated database
 * with what the Prisma schema builds. (PostgreSQL's triggers do not show in the compared
 * catalogues; its CHECK constraint does.)
 */
export const RAW_LEDGER_OBJECTS: Readonly<Record<Dialect, readonly string[]>> = {
  sqlite: [
    'CreditMovement_no_update', 'CreditMovement_no_delete',
    'LedgerEntry_no_update', 'LedgerEntry_no_delete',
    'LedgerParty_no_update', 'LedgerParty_no_delete',
    'LedgerHead_no_update', 'LedgerHead_no_delete',
    'Wallet_no_negative_insert', 'Wallet_no_negative_update',
  ],
  postgresql: ['Wallet_balance_not_negative'],
};
