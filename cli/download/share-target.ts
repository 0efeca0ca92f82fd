import { ShareListing, UdnsError } from '../../protocol/index.js';
import { suggestedName } from './download-name.js';
import { checkShareStatus, readSmallBody, requestShare, type ShareAccess } from './share-http.js';

/** What a `udns get` URL points at, as the share answered. */
export type ShareTarget =
  | {
    kind: 'file';
    url: URL;
    /** The server's name for it (Content-Disposition), else the URL's last segment. */
    name: string | undefined;
    /** Bytes, when the server said. */
    size: number | undefined;
  }
  | { kind: 'folder'; url: URL; listing: ShareListing };

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/**
 * Finds out whether `url` is a file or a folder, following the share's redirect to the
 * trailing-slash form. A URL ending in `/` is a folder (its JSON listing is fetched, which also
 * checks the password). Otherwise a HEAD tells: a redirect to `…/` is a folder; an HTML answer
 * is checked for a JSON listing, since an .html file and a listing page look alike.
 * Redirects to another origin are refused: the password must not travel to another host.
 */
export async function resolveShareTarget(start: URL, access: ShareAccess): Promise<ShareTarget> {
  let url = start;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    if (url.pathname.endsWith('/')) return { kind: 'folder', url, listing: await fetchListing(url, access) };
    const res = await requestShare(url, access, { method: 'HEAD' });
    res.resume();
    const status = res.statusCode ?? 0;
    if (REDIRECTS.has(status) && res.headers.location) {
      const next = new URL(res.headers.location, url);
      if (next.origin !== url.origin) throw new UdnsError('protocol_violation', `${url.host} redirects to ${next.origin}: not following it, it is another site`);
      url = next;
      continue;
    }
    if (status === 405 || status === 501) return { kind: 'file', url, name: suggestedName(url, undefined), size: undefined };
    await checkShareStatus(res, url, access);
    if (/^text\/html/i.test(res.headers['content-type'] ?? '')) {
      const folder = new URL(url);
      folder.pathname += '/';
      const listing = await fetchListing(url, access).catch(() => undefined);
      if (listing) return { kind: 'folder', url: folder, listing };
    }
    const length = res.headers['content-length'];
    return {
      kind: 'file',
      url,
      name: suggestedName(url, res.headers['content-disposition']),
      size: length === undefined || !/^\d+$/.test(length) ? undefined : Number(length),
    };
  }
  throw new UdnsError('protocol_violation', `${start.host} redirected more than ${MAX_REDIRECTS} times`);
}

/** A folder's `ShareListing` (`Accept: application/json`); a clear error when it is not one. */
export async function fetchListing(url: URL, access: ShareAccess): Promise<ShareListing> {
  const res = await requestShare(url, access, { headers: { accept: 'application/json' } });
  await checkShareStatus(res, url, access);
  if (res.statusCode !== 200 || !/^application\/json/i.test(res.headers['content-type'] ?? '')) {
    res.destroy();
    throw new UdnsError('protocol_violation', `${url.href} is not a udns share folder (no JSON listing)`);
  }
  const text = await readSmallBody(res, url);
  let parsed: ReturnType<typeof ShareListing.safeParse>;
  try {
    parsed = ShareListing.safeParse(JSON.parse(text));
  } catch {
    throw new UdnsError('protocol_violation', `${url.host} sent a listing that is not JSON`);
  }
  if (!parsed.success) throw new UdnsError('protocol_violation', `${url.host} sent a listing udns does not understand`);
  return parsed.data;
}
