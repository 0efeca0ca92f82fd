/**
 * Byte rates as the operator writes them: `10MB/s`, `512KiB/s`, `1.5 MB/s`, `80Mbit/s`, or a
 * bare number of bytes per second. Decimal units (kB, MB, GB) are powers of 1000, binary ones
 * (KiB, MiB, GiB) of 1024; bit units divide by 8.
 */

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1_000, kb: 1_000, m: 1_000_000, mb: 1_000_000, g: 1_000_000_000, gb: 1_000_000_000,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3,
  bit: 1 / 8, kbit: 1_000 / 8, mbit: 1_000_000 / 8, gbit: 1_000_000_000 / 8,
};

/** Slowest rate a limit may have: below it one 16 KiB frame would wait for minutes. */
export const MIN_BYTE_RATE = 1024;
/** Fastest: beyond any link, and far inside exact integers. */
export const MAX_BYTE_RATE = 1e12;

/** What a rate must look like, for messages. */
export const BYTE_RATE_HINT = 'a rate such as 10MB/s, 512KiB/s, 100Mbit/s or 1000000 (bytes per second)';

/** Bytes per second, whole; null when `text` is not a rate within MIN_BYTE_RATE..MAX_BYTE_RATE. */
export function parseByteRate(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*(?:\/\s*s)?\s*$/i.exec(text);
  if (match === null) return null;
  const unit = UNITS[match[2]!.toLowerCase()];
  if (unit === undefined) return null;
  const rate = Math.round(Number(match[1]) * unit);
  return Number.isFinite(rate) && rate >= MIN_BYTE_RATE && rate <= MAX_BYTE_RATE ? rate : null;
}

/** `1.0 MiB/s`-style text for a rate in bytes per second. */
export function formatByteRate(bytesPerSecond: number): string {
  const units = ['B/s', 'KiB/s', 'MiB/s', 'GiB/s', 'TiB/s'];
  let value = bytesPerSecond;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B/s` : `${Number(value.toFixed(2))} ${units[unit]}`;
}
