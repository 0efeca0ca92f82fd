/** Sizes, dates and durations as people read them on a listing page. */

const SIZE_UNITS = ['KB', 'MB', 'GB', 'TB', 'PB'] as const;

/** `0 B`, `512 B`, `1.2 KB`, `34 MB`, `1.5 GB` (binary multiples, one decimal below 10). */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes / 1024;
  let unit = 0;
  // Step up while the rounded figure would read 1024 or more ("1024 KB" should be "1.0 MB").
  while (unit < SIZE_UNITS.length - 1 && Math.round(value) >= 1024) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${SIZE_UNITS[unit]}`;
}

/**
 * `2024-05-01 14:03 UTC`: unambiguous without JavaScript; the listing's script rewrites it in
 * the visitor's own time zone and locale from the `<time datetime>` next to it.
 */
export function formatUtc(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** `less than a minute`, `12 min`, `1 h 59 min`, `3 days 4 h`: how long until something. */
export function formatDuration(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return 'less than a minute';
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  const days = Math.floor(hours / 24);
  const dayText = days === 1 ? '1 day' : `${days} days`;
  return hours % 24 === 0 ? dayText : `${dayText} ${hours % 24} h`;
}
