import { z } from 'zod';

/**
 * The HTTP contract of a folder share (`udns share`), shared by the agent that serves it
 * (`agent/share/`) and the CLI that downloads from it (`udns get`).
 *
 * - `GET /dir/` is the listing: HTML by default, `ShareListing` JSON for `Accept: application/json`
 *   or `?format=json`. `GET /dir` (no slash) redirects (301) to `/dir/`.
 * - `GET /dir/?zip` streams the folder as a ZIP (`<folder>.zip`, STORE, zip64 when needed).
 * - `GET /file` serves the file inline; `?download` makes it an attachment. HEAD, single
 *   `Range`, `ETag`/`Last-Modified` and `If-None-Match`/`If-Modified-Since`/`If-Range` work.
 * - `GET /file?checksum=sha256` answers `ShareChecksum` JSON (computed once per file version).
 * - `POST /dir/` (upload shares only) takes `multipart/form-data` files; a form field
 *   `overwrite=1` (sent before the files) replaces existing names instead of choosing new ones.
 *   Answers `ShareUploadResult` JSON for `Accept: application/json`, else 303 back to the listing.
 * - Password shares accept HTTP Basic (any user name) or the cookie the login form sets.
 * - Everything under `SHARE_RESERVED_PREFIX` belongs to udns (login form), never to the folder.
 */
export const SHARE_RESERVED_PREFIX = '/.udns/';
export const SHARE_LOGIN_PATH = '/.udns/login';
export const SHARE_LOGOUT_PATH = '/.udns/logout';
export const SHARE_COOKIE_NAME = 'udns_share';
/** Query parameters of the contract. */
export const SHARE_QUERY = {
  zip: 'zip', download: 'download', checksum: 'checksum', format: 'format', sort: 'sort', order: 'order',
  /** `?sale=<id>`: the file sealed for that sale (issue 11); with `&manifest=1`, its manifest. */
  sale: 'sale', manifest: 'manifest',
} as const;

export const ShareEntry = z.object({
  name: z.string(),
  type: z.enum(['file', 'dir']),
  /** Bytes; 0 for folders. */
  size: z.number().int().nonnegative(),
  /** Last modification, ISO 8601. */
  modified: z.string(),
  /** A paid file's price in credits (`udns share --price`); absent for free files and folders. */
  price: z.number().int().positive().optional(),
});
export type ShareEntry = z.infer<typeof ShareEntry>;

export const ShareListing = z.object({
  /** The folder's path inside the share, `/` for the root, always ending in `/`. */
  path: z.string(),
  entries: z.array(ShareEntry),
  allowUpload: z.boolean(),
});
export type ShareListing = z.infer<typeof ShareListing>;

/**
 * The body of a share's 402 for a paid file (JSON unless a browser asks): the price and the
 * URL to buy it with `udns get`. A HEAD gets the price in the `X-Udns-Price` header instead.
 */
export const PaymentRequired = z.object({
  error: z.object({ code: z.literal('payment_required'), message: z.string() }),
  price: z.number().int().positive(),
  url: z.string(),
  /** The file's path in the share. */
  path: z.string(),
});
export type PaymentRequired = z.infer<typeof PaymentRequired>;

export const ShareChecksum = z.object({
  algorithm: z.literal('sha256'),
  /** Lowercase hex. */
  digest: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
  etag: z.string(),
});
export type ShareChecksum = z.infer<typeof ShareChecksum>;

export const ShareUploadResult = z.object({
  /** One per uploaded file: the name it was given (which differs when the sent one was taken). */
  saved: z.array(z.object({ sent: z.string(), name: z.string(), size: z.number().int().nonnegative() })),
});
export type ShareUploadResult = z.infer<typeof ShareUploadResult>;

/** Encodes a share path (`/a b/한글.txt`) for a URL, segment by segment, keeping the slashes. */
export function encodeSharePath(sharePath: string): string {
  return sharePath.split('/').map((segment) => encodeURIComponent(segment)).join('/');
}
