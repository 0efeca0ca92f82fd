import type { Dialect } from '../accounts/database-target.js';

/*
 * The database objects of the members' index that the Prisma schema cannot describe (FTS5,
 * triggers, an expression GIN index). They are created by the migration
 * 20261202100000_members_index; the migrator test checks they exist and leaves them out when
 * it compares the migrated database with what the Prisma schema alone would build.
 */
export const RAW_SEARCH_OBJECTS: Readonly<Record<Dialect, readonly string[]>> = {
  sqlite: [
    'IndexedFileTerms',
    'IndexedFileTerms_config',
    'IndexedFileTerms_data',
    'IndexedFileTerms_docsize',
    'IndexedFileTerms_idx',
    'IndexedFile_terms_insert',
    'IndexedFile_terms_delete',
    'IndexedFile_terms_update',
  ],
  postgresql: ['IndexedFile_terms_idx'],
};

export function isRawSearchObject(dialect: Dialect, name: string): boolean {
  return RAW_SEARCH_OBJECTS[dialect].includes(name);
}
