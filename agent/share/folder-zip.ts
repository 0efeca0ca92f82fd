import type http from 'node:http';
import contentDisposition from 'content-disposition';
import type { AgentLogger } from '../agent-logger.js';
import { visibleEntries } from './directory-listing.js';
import { useNativeCrc32 } from './native-crc32.js';
import type { SharePolicy } from './share-paths.js';

/**
 * Streams a folder as a ZIP while it is built: entries are added as the walk finds them and
 * each file is opened only when its turn comes, so neither memory nor open files grow with the
 * folder, and nothing is written to disk. Entries are STORED, not deflated: shared folders are
 * mostly photos, videos and PDFs that do not shrink, and deflate would make the agent's CPU
 * the bottleneck (docs/decisions.md). Sizes above 4 GiB get zip64 records (compress-commons).
 * The walk sees exactly what a listing shows (hidden files and escaping symlinks left out).
 */
export async function sendFolderZip(res: http.ServerResponse, policy: SharePolicy, folder: string, zipName: string, logger: AgentLogger): Promise<void> {
  // Loaded on first use: archiver costs half a second of start-up for every CLI command.
  const { ZipArchive } = await import('archiver');
  useNativeCrc32();
  const archive = new ZipArchive({ store: true });
  res.writeHead(200, {
    'Content-Type': 'application/zip',
    'Content-Disposition': contentDisposition(zipName, { type: 'attachment' }),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  let failed = false;
  const fail = (error: unknown): void => {
    if (failed) return;
    failed = true;
    logger.warn({ err: error }, 'zip stream failed');
    archive.abort();
    // The head is out: breaking the connection is the only way to tell the client the ZIP is incomplete.
    res.destroy();
  };
  archive.on('error', fail);
  archive.on('warning', (warning: Error) => logger.debug({ err: warning }, 'zip warning'));
  res.once('close', () => {
    if (!res.writableFinished) archive.abort();
  });
  archive.pipe(res);

  const walk = async (dir: string, prefix: string): Promise<void> => {
    const entries = await visibleEntries(policy, dir);
    if (entries.length === 0 && prefix !== '') archive.append('', { name: `${prefix}/`, type: 'directory' });
    for (const entry of entries) {
      if (failed) return;
      const name = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      if (entry.stats.isDirectory()) {
        await walk(entry.real, name);
      } else {
        // archiver opens the file only when its turn comes (a lazy stream), not now.
        archive.file(entry.real, { name, stats: entry.stats, date: entry.stats.mtime, mode: 0o644 });
      }
    }
  };
  walk(folder, '').then(() => {
    if (!failed) void archive.finalize();
  }, fail);
}

/** The name of a folder's ZIP: the folder's name, or the share's host for the root. */
export function zipNameFor(segments: string[], shareTitle: string): string {
  return `${segments.at(-1) ?? shareTitle.split('.')[0] ?? 'share'}.zip`;
}
