import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { Stats } from 'node:fs';
import { pipeline } from 'node:stream/promises';

/** Files whose digests are remembered (a digest costs one full read). */
const MAX_CACHED = 1000;

/**
 * SHA-256 digests of shared files for `?checksum=sha256`, computed once per file version
 * (same inode, size and mtime) and shared by concurrent askers, so a client verifying a
 * 10 GiB download does not make the PC read the file twice at once.
 */
export class FileChecksums {
  private readonly cache = new Map<string, Promise<string>>();

  digest(realPath: string, stats: Stats): Promise<string> {
    const key = `${realPath}\0${stats.ino}\0${stats.size}\0${stats.mtimeMs}`;
    let pending = this.cache.get(key);
    if (!pending) {
      pending = hashFile(realPath);
      this.cache.set(key, pending);
      pending.catch(() => this.cache.delete(key));
      if (this.cache.size > MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
    }
    return pending;
  }
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(fs.createReadStream(file, { highWaterMark: 1024 * 1024 }), hash);
  return hash.digest('hex');
}
