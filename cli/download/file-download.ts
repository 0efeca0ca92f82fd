import fs from 'node:fs';
import type { DownloadProgress } from './download-progress.js';
import type { RetryPolicy } from './download-retry.js';
import { checkExistingFile } from './existing-file.js';
import { downloadFile, type FileDownloadResult } from './resumable-download.js';
import type { ShareAccess, ShareTransport } from './share-http.js';
import type { TransferPath } from '../../protocol/index.js';

/** One file's transfer paths (transfer-paths.ts): how its bytes travel, and which paths it took. */
export interface FileTransport extends ShareTransport {
  readonly taken: readonly TransferPath[];
  close(): void;
}

/** What every download of one `udns get` shares. */
export interface DownloadContext {
  access: ShareAccess;
  retry: RetryPolicy;
  progress: DownloadProgress;
  /** `--force`: replace existing files. */
  force: boolean;
  /** A logged-in member's direct, push and relay paths, one set per file (member-transfer.ts); absent: the URL's host. */
  transfers?: { forFile(url: URL): FileTransport };
}

/** One shared file saved (or found already saved) at a local path. */
export type SavedFile = (FileDownloadResult & { skipped: false; via?: readonly TransferPath[] }) | { file: string; size: number; skipped: true };

/**
 * Gets one shared file to `file`: skips it when the same file is already there, refuses to
 * clobber a different one (unless `--force`), else downloads, resumes and verifies it.
 */
export async function getSharedFile(url: URL, file: string, remoteSize: number | undefined, label: string, context: DownloadContext): Promise<SavedFile> {
  const existing = await checkExistingFile(file, url, remoteSize, context.access, context.force);
  if (existing === 'already there') return { file, size: fs.statSync(file).size, skipped: true };
  const transport = context.transfers?.forFile(url);
  try {
    const access = transport === undefined ? context.access : { ...context.access, transport };
    const result = await downloadFile(url, file, { ...context, access, label, verifyChecksum: true });
    return { ...result, skipped: false, ...(transport === undefined ? {} : { via: transport.taken }) };
  } finally {
    transport?.close();
  }
}
