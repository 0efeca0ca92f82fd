import fs from 'node:fs';
import path from 'node:path';
import { SHARE_QUERY, UdnsError, type ShareListing } from '../../protocol/index.js';
import { unsafeNameReason } from './download-name.js';
import { withRetries } from './download-retry.js';
import { getSharedFile, type DownloadContext, type SavedFile } from './file-download.js';
import { downloadFile } from './resumable-download.js';
import { PaymentRequiredError } from './share-http.js';
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
  /** Files the share sells, by what became of them (see PricedFileHandler). */
  priced: { bought: number; skipped: number; failed: number };
}

/** A file of the folder that the share sells (its listing names a price, or it answered 402). */
export interface PricedFile {
  url: URL;
  /** Where it would go. */
  target: string;
  /** Its path as shown to the user (`talks/a.pdf`). */
  label: string;
  /** Credits, when the listing or the 402 said. */
  price: number | undefined;
}

/**
 * What `--recursive` does with a file for sale: buy it, or skip it with a line on stderr
 * (cli/exchange/folder-purchases.ts). Resolves with the outcome; a failed purchase is reported
 * by the handler and the walk goes on with the next file.
 */
export type PricedFileHandler = (file: PricedFile) => Promise<'bought' | 'skipped' | 'failed'>;

/**
 * A folder file by file into `dir`, preserving the tree (empty folders included). Each file
 * gets the single-file treatment: resume, size and SHA-256 checks, skip when already there.
 * Names come from the share, so each is checked before it touches the disk.
 */
export async function getFolderRecursive(folderUrl: URL, listing: ShareListing, dir: string, context: DownloadContext, priced: PricedFileHandler): Promise<FolderSummary> {
  const summary: FolderSummary = { files: 0, skipped: 0, bytes: 0, via: {}, priced: { bought: 0, skipped: 0, failed: 0 } };
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
      const fileUrl = new URL(encodeURIComponent(entry.name), url);
      // A file for sale is never downloaded in clear: the handler buys it or skips it.
      const forSale = async (price: number | undefined): Promise<void> => {
        summary.priced[await priced({ url: fileUrl, target, label, price })] += 1;
      };
      if (entry.price !== undefined) {
        await forSale(entry.price);
        continue;
      }
      const saved = await getSharedFile(fileUrl, target, entry.size, label, context).catch((error: unknown) => {
        // Priced since the listing was read.
        if (error instanceof PaymentRequiredError) return error;
        throw error;
      });
      if (saved instanceof PaymentRequiredError) {
        await forSale(saved.price);
        continue;
      }
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
