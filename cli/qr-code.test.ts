import { encode } from 'uqr';
import { describe, expect, test } from 'vitest';
import { qrCodeLines } from './qr-code.js';

/** Reads the module grid back out of rendered lines: the inverse of the renderer, written apart from it. */
function gridOf(lines: string[], colour: boolean): boolean[][] {
  const grid: boolean[][] = [[], []];
  for (const line of lines) {
    const top: boolean[] = [];
    const bottom: boolean[] = [];
    if (colour) {
      for (const cell of line.matchAll(/\u001b\[(30|97);(40|107)m▀/g)) {
        top.push(cell[1] === '30');
        bottom.push(cell[2] === '40');
      }
    } else {
      for (const char of line) {
        top.push(char === '█' || char === '▀');
        bottom.push(char === '█' || char === '▄');
      }
    }
    grid.push(top, bottom);
  }
  return grid.slice(2);
}

describe('--qr rendering', () => {
  const url = 'http://alice.localhost:8080';

  test.each([true, false])('colour %s: two modules a line, every module as the encoder made it, quiet zone included', (colour) => {
    const { data, size, version } = encode(url, { border: 2 });
    const lines = qrCodeLines(url, { colour });
    expect(version).toBe(2); // 27 bytes fit version 2 at the default error correction
    expect(lines).toHaveLength(Math.ceil(size / 2));
    const grid = gridOf(lines, colour);
    expect(grid.slice(0, size)).toEqual(data);
    if (size % 2 === 1) expect(grid[size]!.every((module) => !module)).toBe(true);
    // Light quiet zone on every side.
    expect(data[0]!.some(Boolean)).toBe(false);
    if (!colour) expect(lines[0]).toBe(' '.repeat(size));
  });

  test('a longer URL gets a bigger code', () => {
    const long = `https://${'x'.repeat(60)}.tun.example.com`;
    expect(qrCodeLines(long, { colour: false }).length).toBeGreaterThan(qrCodeLines(url, { colour: false }).length);
  });
});
