import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import { SHARE_QUERY, ShareChecksum, UdnsError } from '../../protocol/index.js';
import { checkShareStatus, readSmallBody, requestShare, type ShareAccess } from './share-http.js';

/**
 * The share reads the whole file before it answers `?checksum=sha256` (once per file version):
 * minutes for a large file on a slow disk, so this request may stay silent far longer than a
 * download may stall.
 */
const CHECKSUM_TIMEOUT_MS = 15 * 60_000;

/** What `?checksum=sha256` told, or why there is nothing to compare with. */
export type RemoteChecksum = { offered: true; checksum: ShareChecksum } | { offered: false; reason: string };

/**
 * Asks the share for a file's SHA-256 (`?checksum=sha256`). A share that does not offer one
 * (404/400/405, or an answer that is not the contract's JSON, e.g. a plain web server handing
 * out the file itself) is `offered: false`, not an error: the size check still stands.
 */
export async function fetchChecksum(fileUrl: URL, access: ShareAccess): Promise<RemoteChecksum> {
  const url = new URL(fileUrl);
  url.searchParams.set(SHARE_QUERY.checksum, 'sha256');
  const res = await requestShare(url, access, { headers: { accept: 'application/json' }, idleTimeoutMs: CHECKSUM_TIMEOUT_MS });
  const status = res.statusCode ?? 0;
  if (status === 400 || status === 404 || status === 405 || status === 501) {
    res.resume();
    return { offered: false, reason: `the share answered ${status}` };
  }
  await checkShareStatus(res, url, access);
  if (status !== 200 || !/^application\/json/i.test(res.headers['content-type'] ?? '')) {
    res.destroy();
    return { offered: false, reason: 'the server does not offer checksums' };
  }
  const text = await readSmallBody(res, url, 64 * 1024);
  let parsed: ReturnType<typeof ShareChecksum.safeParse>;
  try {
    parsed = ShareChecksum.safeParse(JSON.parse(text));
  } catch {
    throw new UdnsError('protocol_violation', `${url.host} answered ?checksum with invalid JSON`);
  }
  if (!parsed.success) throw new UdnsError('protocol_violation', `${url.host} answered ?checksum with an unexpected document`);
  return { offered: true, checksum: parsed.data };
}

/** Feeds the first `length` bytes of a file (all of it by default) into `hash`. */
export async function hashFileInto(hash: Hash, file: string, length?: number): Promise<void> {
  if (length === 0) return;
  const stream = fs.createReadStream(file, { highWaterMark: 1024 * 1024, ...(length === undefined ? {} : { end: length - 1 }) });
  for await (const chunk of stream) hash.update(chunk as Buffer);
}

/** SHA-256 of a whole file, lowercase hex. */
export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await hashFileInto(hash, file);
  return hash.digest('hex');
}
