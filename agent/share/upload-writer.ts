import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Prefix of in-progress uploads: hidden, so listings never show a half-written file. */
export const UPLOAD_TEMP_PREFIX = '.udns-upload-';

/** Where one finished upload landed. */
export interface WrittenFile {
  readonly name: string;
  readonly size: number;
  /** False when it replaced an existing file. */
  readonly created: boolean;
}

/**
 * Writes one uploaded file into `folder`: the bytes stream into a hidden temp file created
 * exclusively in the same folder, which is renamed into place only when the body arrived
 * whole. A broken upload leaves nothing behind. With `overwrite` false an existing name is
 * kept and the file gets the first free `name (1).ext`; the free name is taken with link(2),
 * which fails rather than replace, so two uploads of one name cannot clobber each other.
 */
export async function writeUploadedFile(folder: string, name: string, body: Readable, overwrite: boolean): Promise<WrittenFile> {
  const temp = path.join(folder, `${UPLOAD_TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
  let written = 0;
  body.on('data', (chunk: Buffer) => { written += chunk.length; });
  try {
    await pipeline(body, fs.createWriteStream(temp, { flags: 'wx', mode: 0o644 }));
    const target = path.join(folder, name);
    const existing = await fsp.lstat(target).catch(() => null);
    // Only a regular file is ever replaced: never a folder, and never a symlink (whose target
    // may be outside the share); those keep their name and the upload gets a free one.
    if (overwrite && (existing === null || existing.isFile())) {
      await fsp.rename(temp, target);
      return { name, size: written, created: existing === null };
    }
    const landed = await linkUnderFreeName(temp, folder, name);
    // Gone already when the fallback renamed it.
    await fsp.rm(temp, { force: true });
    return { name: landed, size: written, created: true };
  } catch (error) {
    await fsp.rm(temp, { force: true });
    throw error;
  }
}

/** Links `temp` as `name`, or `name (1)`, `name (2)`… when taken. */
async function linkUnderFreeName(temp: string, folder: string, name: string): Promise<string> {
  const extension = path.extname(name);
  const stem = extension && extension !== name ? name.slice(0, -extension.length) : name;
  for (let attempt = 0; attempt < 1000; attempt++) {
    const candidate = attempt === 0 ? name : `${stem} (${attempt})${extension}`;
    try {
      await fsp.link(temp, path.join(folder, candidate));
      return candidate;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') {
        // No hard links here (FAT/exFAT drives): check, then rename. A race can still replace.
        if (await fsp.lstat(path.join(folder, candidate)).then(() => true, () => false)) continue;
        await fsp.rename(temp, path.join(folder, candidate));
        return candidate;
      }
      throw error;
    }
  }
  throw Object.assign(new Error(`no free name for ${name}`), { code: 'EEXIST' });
}
