import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import type http from 'node:http';
import { Transform } from 'node:stream';
import type { Readable } from 'node:stream';
import contentDisposition from 'content-disposition';
import type { AgentLogger } from '../agent-logger.js';
import { visibleEntries } from './directory-listing.js';
import { useNativeCrc32 } from './native-crc32.js';
import type { SharePolicy } from './share-paths.js';

/**
 * Entries handed to archiver ahead of the one it is writing: one being written and one opened
 * and waiting, so the next file's open overlaps the current file's bytes. Everything else stays
 * unread on disk until the client has taken what came before.
 */
const MAX_QUEUED_ENTRIES = 2;

/** One member of the ZIP, found by the walk: a file to read, or a folder with nothing in it. */
interface ZipItem {
  readonly name: string;
  readonly real: string;
  readonly stats: Stats;
  readonly emptyFolder: boolean;
}

/**
 * Streams a folder as a ZIP while it is built: the walk reads one folder at a time and goes on
 * only as archiver takes entries (never more than {@link MAX_QUEUED_ENTRIES} ahead), and each file
 * is opened only when its turn comes, so neither memory nor open files grow with the folder,
 * whatever the client's speed, and nothing is written to disk. Entries are STORED, not
 * deflated: shared folders are mostly photos, videos and PDFs that do not shrink, and deflate
 * would make the agent's CPU the bottleneck (docs/decisions.md). Sizes above 4 GiB get zip64
 * records (compress-commons). The walk sees exactly what a listing shows (hidden files and
 * escaping symlinks left out), and skips a folder that is its own ancestor (a symlink loop).
 *
 * Resolves once the response is over (sent whole, or the visitor gone) and every file opened for
 * it is closed again; rejects only when the folder cannot be read before the head is sent.
 * `skip(name, real)` leaves out files by their name in the ZIP (`talks/a.pdf`) and real path: priced files.
 */
export async function sendFolderZip(res: http.ServerResponse, policy: SharePolicy, folder: string, zipName: string, logger: AgentLogger, skip?: (name: string, real: string) => boolean): Promise<void> {
  // Loaded on first use: archiver costs half a second of start-up for every CLI command.
  const { ZipArchive } = await import('archiver');
  useNativeCrc32();
  const rootStats = await fs.stat(folder);
  // The visitor may have gone during the awaits above or before this was called: its 'close'
  // is then past, and the ZIP would be piped into a dead response, which takes one write and
  // never drains, so archiver would stall forever holding the file it reads until the
  // garbage collector closed it (DEP0137). Nothing is open yet; nothing to do.
  if (res.destroyed) return;
  const archive = new ZipArchive({ store: true });
  res.writeHead(200, {
    'Content-Type': 'application/zip',
    'Content-Disposition': contentDisposition(zipName, { type: 'attachment' }),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });

  // archiver's abort() leaves the source it is reading open, so the files are ours to close.
  // A source leaves this set only once it is closed (its handle with it).
  const sources = new Set<Readable>();
  let stopped = false;
  let queued = 0;
  let wake: (() => void) | null = null;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    archive.abort();
    for (const source of sources) source.destroy();
    wake?.();
  };
  const fail = (error: unknown): void => {
    if (stopped) return;
    logger.warn({ err: error }, 'zip stream failed');
    stop();
    // The head is out: breaking the connection is the only way to tell the client the ZIP is incomplete.
    res.destroy();
  };
  archive.on('error', fail);
  archive.on('warning', (warning: Error) => logger.debug({ err: warning }, 'zip warning'));
  archive.on('entry', () => {
    queued--;
    wake?.();
  });
  const responseClosed = new Promise<void>((resolve) => res.once('close', () => {
    resolve();
    if (res.writableFinished) return;
    // A visitor closing the download midway is ordinary; nothing to act on.
    logger.debug('zip download closed before the end');
    stop();
  }));
  // archiver writes every header field as its own small chunk: batched, a folder of small
  // files costs a few HTTP chunks and tunnel frames per file instead of a dozen.
  archive.pipe(coalesced()).pipe(res);

  const room = (): Promise<void> => new Promise((resolve) => {
    if (stopped || queued < MAX_QUEUED_ENTRIES) return resolve();
    wake = () => {
      wake = null;
      resolve();
    };
  });
  const feed = async (): Promise<void> => {
    for await (const item of zipItems(policy, folder, rootStats, logger, skip)) {
      await room();
      if (stopped) return;
      if (item.emptyFolder) {
        archive.append(Buffer.alloc(0), { name: `${item.name}/`, type: 'directory', date: item.stats.mtime });
      } else {
        const source = await openFile(item, logger);
        if (source === null) continue;
        sources.add(source);
        source.once('close', () => sources.delete(source));
        if (stopped) {
          source.destroy();
          return;
        }
        archive.append(source, { name: item.name, date: item.stats.mtime, mode: 0o644 });
      }
      queued++;
    }
    // Its rejections are errors 'error' has already reported (fail above); they must not go unhandled.
    if (!stopped) archive.finalize().catch(() => {});
  };
  await feed().catch(fail);
  await responseClosed;
  await Promise.all([...sources].map((source) => new Promise((resolve) => source.once('close', resolve))));
}

/**
 * Opens a file for its entry; null when it cannot be read any more (deleted or changed since the
 * walk saw it). Skipping it is still possible here, before its header is written.
 */
async function openFile(item: ZipItem, logger: AgentLogger): Promise<Readable | null> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(item.real, 'r');
  } catch (error) {
    logger.debug({ err: error, name: item.name }, 'zip skipped a file it could not open');
    return null;
  }
  try {
    // From here the stream owns the handle (autoClose): it closes it on end, error or destroy.
    return handle.createReadStream();
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * The files of a folder in walk order, reading one folder at a time as the consumer asks. A
 * folder with nothing to put in it is given as an empty-folder item; a folder that is one of
 * its own ancestors (by device and inode, so through any symlink) is left out.
 */
async function* zipItems(policy: SharePolicy, folder: string, folderStats: Stats, logger: AgentLogger, skip?: (name: string, real: string) => boolean): AsyncGenerator<ZipItem> {
  const ancestors = new Set<string>([folderId(folderStats)]);
  async function* walk(dir: string, dirStats: Stats, prefix: string): AsyncGenerator<ZipItem> {
    let given = false;
    for (const entry of await visibleEntries(policy, dir)) {
      const name = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      if (!entry.stats.isDirectory()) {
        if (skip?.(name, entry.real)) continue;
        given = true;
        yield { name, real: entry.real, stats: entry.stats, emptyFolder: false };
        continue;
      }
      const id = folderId(entry.stats);
      if (ancestors.has(id)) {
        logger.debug({ name }, 'zip skipped a folder inside itself (symlink loop)');
        continue;
      }
      ancestors.add(id);
      given = true;
      yield* walk(entry.real, entry.stats, name);
      ancestors.delete(id);
    }
    if (!given && prefix !== '') yield { name: prefix, real: dir, stats: dirStats, emptyFolder: true };
  }
  yield* walk(folder, folderStats, '');
}

function folderId(stats: Stats): string {
  return `${stats.dev}:${stats.ino}`;
}

/** The name of a folder's ZIP: the folder's name, or the share's host for the root. */
export function zipNameFor(segments: string[], shareTitle: string): string {
  return `${segments.at(-1) ?? shareTitle.split('.')[0] ?? 'share'}.zip`;
}

/** Joins small chunks written in one turn of the event loop, up to 64 KiB, into one. */
function coalesced(limit = 64 * 1024): Transform {
  let pending: Buffer[] = [];
  let size = 0;
  let scheduled = false;
  const flushNow = (): void => {
    if (size === 0) return;
    batcher.push(pending.length === 1 ? pending[0] : Buffer.concat(pending, size));
    pending = [];
    size = 0;
  };
  const batcher = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      pending.push(chunk);
      size += chunk.length;
      if (size >= limit) flushNow();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          if (!batcher.destroyed) flushNow();
        });
      }
      done();
    },
    flush(done) {
      flushNow();
      done();
    },
  });
  return batcher;
}
