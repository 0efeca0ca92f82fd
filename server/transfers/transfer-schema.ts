import type { Dialect } from '../accounts/database-target.js';

/*
 * The append-only triggers of TransferRecord, created by the migration
 * 20261202110000_transfer_records: the Prisma schema cannot describe them, so the migrator test
 * leaves them out when it compares the migrated database with what the Prisma schema builds.
 */
export const RAW_TRANSFER_OBJECTS: Readonly<Record<Dialect, readonly string[]>> = {
  sqlite: ['TransferRecord_no_update', 'TransferRecord_no_delete'],
  postgresql: [],
};
