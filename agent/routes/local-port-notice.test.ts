import { describe, expect, test } from 'vitest';
import { LocalPortNotice } from './local-port-notice.js';

const T = 'http://127.0.0.1:3000';

function noticeWithClock(): { notice: LocalPortNotice; lines: string[]; advance(ms: number): void } {
  let now = 1000;
  const lines: string[] = [];
  const notice = new LocalPortNotice('app', (line) => lines.push(line), () => now, 60_000);
  return { notice, lines, advance: (ms) => { now += ms; } };
}

describe('the local port notice (issue 9 #7)', () => {
  test('the first refusal is said at once, the next ones within a minute are not', () => {
    const { notice, lines, advance } = noticeWithClock();
    notice.failed(T, 'ECONNREFUSED');
    for (let i = 0; i < 50; i++) {
      advance(1000);
      notice.failed(T, 'ECONNREFUSED');
    }
    expect(lines).toEqual(['http://127.0.0.1:3000 refused the connection (is your app running?)']);
  });

  test('still failing a minute later: said again, with how many failed meanwhile', () => {
    const { notice, lines, advance } = noticeWithClock();
    notice.failed(T, 'ECONNREFUSED');
    advance(30_000);
    notice.failed(T, 'ECONNREFUSED');
    notice.failed(T, 'ECONNREFUSED');
    advance(30_000);
    notice.failed(T, 'ECONNREFUSED');
    expect(lines).toEqual([
      'http://127.0.0.1:3000 refused the connection (is your app running?)',
      'http://127.0.0.1:3000 refused the connection (is your app running?); 3 connections failed since the last notice',
    ]);
  });

  test('recovery is said once, and a new failure after it at once', () => {
    const { notice, lines, advance } = noticeWithClock();
    notice.connected(T);
    notice.failed(T, 'ECONNREFUSED');
    advance(1000);
    notice.connected(T);
    notice.connected(T);
    advance(1000);
    notice.failed(T, 'EHOSTUNREACH');
    expect(lines).toEqual([
      'http://127.0.0.1:3000 refused the connection (is your app running?)',
      'http://127.0.0.1:3000 answers again',
      'http://127.0.0.1:3000 could not be reached (EHOSTUNREACH)',
    ]);
  });
});
