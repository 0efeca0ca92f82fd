import fs from 'node:fs';
import path from 'node:path';
import { SHARE_QUERY, UdnsError, type ShareListing } from '../../protocol/index.js';
import { unsafeNameReason } from './download-name.js';
import { withRetries } from './download-retry.js';
import { getSharedFile, type DownloadContext, type SavedFile } from './file-download.js';
import { downloadFile } from './resumable-download.js';
import { fetchListing } from './share-target.js';

/**
 * A folder as the ZIP the share streams (`<folder>/?zip`). Its size is unknown until the end
 * and it has no checksum or validator: a broken connection restarts it from zero, and an
 * existing file is only replaced with `--force`.
 */
export async function getFolderZip(folderUrl: URL, file: string, context: DownloadContext): Promise<SavedFile> {
  if (fs.existsSync(file) && !context.force) {
    throw new UdnsError('bad_request', `${file} already exists: pass --force to replace it, or -o <path> to save elsewhere`);
  }
  const zipUrl = new URL(folderUrl);
  zipUrl.search = SHARE_QUERY.zip;
  const result = await downloadFile(zipUrl, file, { ...context, label: path.basename(file), verifyChecksum: false });
  return { ...result, skipped: false };
}

/** What `--recursive` did. */
export interface FolderSummary {
  files: number;
  /** Files that were already there, identical. */
  skipped: number;
  bytes: number;
  /** Downloaded files by the last transfer path each took (logged-in members only). */
  via: Partial<Record<string, number>>;
}

/**
 * A folder file by file into `dir`, preserving the tree (empty folders included). Each file
 * gets the single-file treatment: resume, size and SHA-256 checks, skip when already there.
 * Names come from the share, so each is checked before it touches the disk.
 */
export async function getFolderRecursive(folderUrl: URL, listing: ShareListing, dir: string, context: DownloadContext): Promise<FolderSummary> {
  const summary: FolderSummary = { files: 0, skipped: 0, bytes: 0, via: {} };
  const root = path.resolve(dir);
  const walk = async (url: URL, folder: ShareListing, local: string): Promise<void> => {
    makeFolder(local);
    for (const entry of folder.entries) {
      const target = childPath(root, local, entry.name, folder.path);
      if (entry.type === 'dir') {
        const child = new URL(`${encodeURIComponent(entry.name)}/`, url);
        const childListing = await withRetries(context.retry, (line) => context.progress.note(line), () => fetchListing(child, context.access));
        await walk(child, childListing, target);
        continue;
      }
      const label = path.relative(path.dirname(root), target);
      const saved = await getSharedFile(new URL(encodeURIComponent(entry.name), url), target, entry.size, label, context);
      summary.files += 1;
      summary.bytes += saved.size;
      const last = saved.skipped ? undefined : saved.via?.at(-1);
      if (last !== undefined) summary.via[last] = (summary.via[last] ?? 0) + 1;
      if (saved.skipped) {
        summary.skipped += 1;
        context.progress.note(`${label} is already there (same SHA-256), skipped`);
      }
    }
  };
  await walk(folderUrl, listing, root);
  return summary;
}

/** `local/name`, refusing a listed name that could land outside the download folder. */
function childPath(root: string, local: string, name: string, listedIn: string): string {
  const reason = unsafeNameReason(name);
  const target = path.join(local, name);
  if (reason !== null || !target.startsWith(`${root}${path.sep}`)) {
    throw new UdnsError('protocol_violation', `the share listed an unsafe name in ${listedIn} (${reason ?? 'outside the folder'}): not downloading it`);
  }
  return target;
}

function makeFolder(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new UdnsError('bad_request', `cannot create the folder ${dir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): pass -o <folder> to save elsewhere`);
  }
}
