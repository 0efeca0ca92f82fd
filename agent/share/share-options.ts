import { z } from 'zod';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/**
 * Parses a duration like `90s`, `30m`, `2h`, `1d`, `1h30m` into milliseconds; null when it
 * is not one. Bare numbers are refused on purpose: `--expires 2` is ambiguous.
 */
export function parseDuration(text: string): number | null {
  const trimmed = text.trim().toLowerCase();
  if (!/^(?:\d+[smhdw])+$/.test(trimmed)) return null;
  let seconds = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)([smhdw])/g)) seconds += Number(amount) * UNIT_SECONDS[unit!]!;
  return seconds > 0 && seconds <= 366 * 86_400 ? seconds * 1000 : null;
}

const duration = z.string().refine((text) => parseDuration(text) !== null, {
  error: 'expires must be a duration like 90s, 30m, 2h, 1d or 1h30m (at most a year)',
});

/** One shared folder, as `udns share` flags or an agent config file declare it. */
export const ShareOptions = z.object({
  /** The folder (absolute, or relative to the current directory). */
  dir: z.string().min(1, 'the folder to share is required'),
  name: z.string().optional(),
  password: z.string().min(1, 'password must not be empty').max(1024).optional(),
  allowUpload: z.boolean().default(false),
  webdav: z.boolean().default(false),
  /** How long the share answers, from when the agent starts it. */
  expires: duration.optional(),
  showHidden: z.boolean().default(false),
  followSymlinks: z.boolean().default(false),
  /** Publish an index of the share to the edge's members' search (`--list`); unlisted shares send nothing. */
  list: z.boolean().default(false),
  /**
   * Prices (`--price 'talks/*.pdf=50'`, `prices:` in `udns up` files): glob rules over the share
   * path, first match wins (agent/exchange/price-list.ts checks them). Needs `list`.
   */
  prices: z.array(z.object({ glob: z.string(), price: z.number() }).strict()).max(100, 'at most 100 price rules per share').default([]),
}).strict();
export type ShareOptions = z.infer<typeof ShareOptions>;
