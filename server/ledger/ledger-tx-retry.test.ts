import { describe, expect, test } from 'vitest';
import { isRetryableLedgerError } from './ledger-tx.js';

describe('isRetryableLedgerError', () => {
  test('a raw query losing the race for the next transfer record (prevHash) is retried, on PostgreSQL and SQLite', () => {
    expect(isRetryableLedgerError({ code: 'P2010', message: 'Raw query failed. Code: `23505`. Message: `duplicate key value violates unique constraint "TransferRecord_prevHash_key"`' })).toBe(true);
    expect(isRetryableLedgerError({ code: 'P2010', message: 'Raw query failed. Code: `SQLITE_CONSTRAINT_UNIQUE`. Message: `UNIQUE constraint failed: TransferRecord.prevHash`' })).toBe(true);
  });

  test('the ledger\'s own races are retried; other unique violations and errors are not', () => {
    expect(isRetryableLedgerError({ code: 'P2010', message: 'Raw query failed. Code: `23505`. Message: `duplicate key value violates unique constraint "LedgerEntry_seq_key"`' })).toBe(true);
    expect(isRetryableLedgerError({ code: 'P2034', message: 'write conflict' })).toBe(true);
    expect(isRetryableLedgerError({ code: 'P2010', message: 'Raw query failed. Code: `23505`. Message: `duplicate key value violates unique constraint "Account_name_key"`' })).toBe(false);
    expect(isRetryableLedgerError({ code: 'P2002', meta: { target: ['name'] }, message: 'Unique constraint failed on the fields: (`name`)' })).toBe(false);
    expect(isRetryableLedgerError(new Error('connection refused'))).toBe(false);
  });
});
