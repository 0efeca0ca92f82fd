import fs from 'node:fs';
import { UdnsError } from '../../protocol/index.js';
import { fetchChecksum, sha256OfFile } from './share-checksum.js';
import type { ShareAccess } from './share-http.js';

/**
 * What to do when the destination of a download already exists. Without `--force`, a file
 * that is provably the shared one (same size and the share's SHA-256) is kept and skipped, so
 * running the same `udns get` again is harmless; anything else is refused rather than
 * overwritten. With `--force` the download runs and replaces it once complete.
 */
export async function checkExistingFile(
  file: string,
  url: URL,
  remoteSize: number | undefined,
  access: ShareAccess,
  force: boolean,
): Promise<'download' | 'already there'> {
  let stats: fs.Stats;
  try {
    stats = fs.statSync(file);
  } catch {
    return 'download';
  }
  if (stats.isDirectory()) throw new UdnsError('bad_request', `${file} is a folder: pass -o <path> to save the download elsewhere`);
  if (force) return 'download';
  const refuse = (): never => {
    throw new UdnsError('bad_request', `${file} already exists and is not the shared file: pass --force to replace it, or -o <path> to save elsewhere`);
  };
  if (remoteSize !== undefined && stats.size !== remoteSize) refuse();
  const remote = await fetchChecksum(url, access);
  if (!remote.offered || remote.checksum.size !== stats.size) refuse();
  if (remote.offered && (await sha256OfFile(file)) === remote.checksum.digest) return 'already there';
  return refuse();
}
