/**
 * Errors thrown by the database layer, told apart by class name so that neither Prisma nor the
 * drivers have to be imported here: Prisma's client errors, its driver-adapter error,
 * better-sqlite3's, and node-postgres's server errors.
 */
const DATABASE_ERROR_CLASSES = new Set([
  'PrismaClientKnownRequestError',
  'PrismaClientUnknownRequestError',
  'PrismaClientRustPanicError',
  'PrismaClientInitializationError',
  'DriverAdapterError',
  'SqliteError',
  'DatabaseError',
]);

/** True when `error` (or the error it wraps as `cause`) came from the database. */
export function isDatabaseError(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth++) {
    if (DATABASE_ERROR_CLASSES.has(current.constructor.name) || DATABASE_ERROR_CLASSES.has(current.name)) return true;
  }
  return false;
}
