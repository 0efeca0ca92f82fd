import { createRequire } from 'node:module';
import { describe, expect, test } from 'vitest';
import { UdnsError } from '../../protocol/errors.js';
import { isDatabaseError } from './database-error.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => { prepare(sql: string): { all(): unknown[] }; close(): void };

describe('which failures count as database errors', () => {
  test('a real SQLite failure, also wrapped; not our own errors or a plain bug', () => {
    const db = new Database(':memory:');
    let sqlite: unknown;
    try {
      db.prepare('SELECT * FROM no_such_table').all();
    } catch (error) {
      sqlite = error;
    } finally {
      db.close();
    }
    expect(isDatabaseError(sqlite)).toBe(true);
    expect(isDatabaseError(new Error('request failed', { cause: sqlite }))).toBe(true);
    expect(isDatabaseError(new UdnsError('not_found', 'no such name'))).toBe(false);
    expect(isDatabaseError(new TypeError('x is undefined'))).toBe(false);
    expect(isDatabaseError('a string')).toBe(false);
  });
});
