import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { UdnsError } from '../../protocol/index.js';
import { formatBytes, type DownloadProgress } from './download-progress.js';
import { withRetries, type RetryPolicy } from './download-retry.js';
import { partFilesFor, partSize, readPartState, removePart, resumeValidator, writePartState, type PartFiles, type PartState } from './part-state.js';
import { fetchChecksum, hashFileInto } from './share-checksum.js';
import { checkShareStatus, requestShare, type ShareAccess } from './share-http.js';

/** From this size on, say why the checksum step takes a while. */
const LARGE_FILE_BYTES = 1024 ** 3;

/** Everything {@link downloadFile} needs besides the URL and the destination. */
export interface FileDownloadOptions {
  access: ShareAccess;
  progress: DownloadProgress;
  retry: RetryPolicy;
  /** Compare with the share's `?checksum=sha256` (files yes, streamed ZIPs no). */
  verifyChecksum: boolean;
  /** Name shown on the progress line. */
  label: string;
}

/** A finished download. */
export interface FileDownloadResult {
  file: string;
  size: number;
  /** SHA-256 of what was saved, lowercase hex. */
  sha256: string;
  /** Bytes that an earlier run had already saved. */
  resumedFrom: number;
  checksum: 'verified' | 'not offered' | 'not checked';
}

/**
 * Downloads `url` to `file` so that an interruption never costs what was already received and
 * never leaves a half-written `file`:
 *
 * - bytes go to `<file>.part`, with `<file>.part.json` (URL, ETag, size) beside it;
 * - a later run continues with `Range: bytes=N-` and `If-Range: <etag>`; a 200 instead of 206
 *   means the file changed, and the part starts over from zero;
 * - within a run, a lost connection or a 502/503 (the agent restarting) is retried with backoff,
 *   continuing from the bytes on disk;
 * - the SHA-256 is computed while writing (after re-reading the part on resume), the size is
 *   checked against Content-Length / Content-Range, and the digest against the share's
 *   `?checksum=sha256`; only then is the part renamed into place. A mismatch removes the part.
 */
export async function downloadFile(url: URL, file: string, options: FileDownloadOptions): Promise<FileDownloadResult> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const transfer = await PartTransfer.open(url, partFilesFor(file), options);
  let size: number;
  let sha256: string;
  try {
    let before = transfer.offset;
    await withRetries(options.retry, (line) => options.progress.note(line), async () => {
      before = transfer.offset;
      await transfer.attempt();
    }, () => transfer.offset > before);
    options.progress.finish(transfer.offset);
    ({ size, sha256 } = await transfer.complete());
  } finally {
    // Closed first: nothing the progress line does may leave the part's handle open.
    await transfer.close();
    options.progress.stop();
  }
  const files = partFilesFor(file);
  let checksum: FileDownloadResult['checksum'] = 'not checked';
  if (options.verifyChecksum) {
    if (size >= LARGE_FILE_BYTES) options.progress.note(`asking the share for the SHA-256 of ${options.label} (it reads the file once)`);
    const remote = await withRetries(options.retry, (line) => options.progress.note(line), () => fetchChecksum(url, options.access));
    if (!remote.offered) {
      options.progress.note(`${options.label}: no checksum offered (${remote.reason}); checked the size only`);
      checksum = 'not offered';
    } else if (remote.checksum.digest !== sha256 || remote.checksum.size !== size) {
      removePart(files);
      const changed = remote.checksum.etag !== transfer.etag ? ' (the file changed on the share meanwhile)' : '';
      throw new UdnsError('protocol_violation', `${options.label} does not match the share's SHA-256${changed}: got ${sha256.slice(0, 16)}…, expected ${remote.checksum.digest.slice(0, 16)}…; nothing was saved, run the command again to download it afresh`);
    } else {
      checksum = 'verified';
    }
  }
  fs.renameSync(files.part, file);
  fs.rmSync(files.state, { force: true });
  return { file, size, sha256, resumedFrom: transfer.resumedFrom, checksum };
}

/** The `.part` file being filled, its running hash and what the server said about the whole. */
class PartTransfer {
  /** Bytes on disk (and in the hash). */
  offset: number;
  total: number | undefined;
  etag: string | undefined;
  private started = false;

  private constructor(
    private readonly url: URL,
    private readonly files: PartFiles,
    private readonly options: FileDownloadOptions,
    private handle: fs.promises.FileHandle,
    private hash: Hash,
    private state: PartState | undefined,
    /** Bytes an earlier run left that this run could use (0 after a restart). */
    public resumedFrom: number,
  ) {
    this.offset = resumedFrom;
    this.total = state?.size;
    this.etag = state?.etag;
  }

  /** Opens the part of an earlier run when it can be continued, else starts a fresh one. */
  static async open(url: URL, files: PartFiles, options: FileDownloadOptions): Promise<PartTransfer> {
    let state = readPartState(files);
    let offset = partSize(files);
    const resumable = state !== undefined && state.url === url.href && resumeValidator(state) !== undefined
      && (state.size === undefined || offset <= state.size);
    if (!resumable || offset === 0) {
      state = undefined;
      offset = 0;
      removePart(files);
    }
    const hash = createHash('sha256');
    const handle = await fs.promises.open(files.part, offset > 0 ? 'r+' : 'w');
    try {
      await hashFileInto(hash, files.part, offset);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return new PartTransfer(url, files, options, handle, hash, state, offset);
  }

  /** One request: resolves when the body is complete, throws (transient or not) otherwise. */
  async attempt(): Promise<void> {
    const validator = this.state && resumeValidator(this.state);
    const headers: Record<string, string> = {};
    if (this.offset > 0 && validator !== undefined) {
      headers.range = `bytes=${this.offset}-`;
      headers['if-range'] = validator;
    } else if (this.offset > 0) {
      // Nothing to prove the bytes on disk belong to the same file: fetch it all again.
      await this.restart();
    }
    const res = await requestShare(this.url, this.options.access, { headers });
    await checkShareStatus(res, this.url, this.options.access);
    const status = res.statusCode ?? 0;
    if (status === 416) {
      res.resume();
      const range = parseContentRange(res.headers['content-range']);
      if (range?.total !== undefined && range.total === this.offset && this.total === this.offset) return;
      this.options.progress.note(`${this.options.label}: the share no longer has the bytes after ${this.offset}; starting over`);
      await this.restart();
      return this.attempt();
    }
    if (status === 206 && headers.range !== undefined) {
      const range = parseContentRange(res.headers['content-range']);
      if (range === undefined || range.start !== this.offset) {
        res.destroy();
        throw new UdnsError('protocol_violation', `${this.url.host} answered a range that does not start at byte ${this.offset}`);
      }
      this.total = range.total;
    } else if (status === 200) {
      if (this.offset > 0) {
        this.options.progress.note(`${this.options.label} changed on the share since the last run; starting over`);
        await this.restart();
      }
      const length = res.headers['content-length'];
      this.total = length === undefined ? undefined : Number(length);
    } else {
      res.resume();
      throw new UdnsError('protocol_violation', `${this.url.host} answered ${status} to a download`);
    }
    this.remember(res);
    if (!this.started || status === 200) this.options.progress.start(this.options.label, this.total, this.offset);
    this.started = true;
    await this.receive(res);
  }

  /** Size check and digest once the body is all on disk. */
  async complete(): Promise<{ size: number; sha256: string }> {
    if (this.total !== undefined && this.offset !== this.total) {
      throw new UdnsError('protocol_violation', `${this.options.label}: received ${this.offset} bytes, the share announced ${this.total}`);
    }
    await this.handle.sync();
    return { size: this.offset, sha256: this.hash.digest('hex') };
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }

  /** Saves the version being downloaded, so a later run can ask for the rest of it. */
  private remember(res: http.IncomingMessage): void {
    const etag = res.headers.etag;
    const lastModified = res.headers['last-modified'];
    const next: PartState = {
      url: this.url.href,
      ...(etag ? { etag } : {}),
      ...(lastModified ? { lastModified } : {}),
      ...(this.total !== undefined ? { size: this.total } : {}),
    };
    this.etag = etag;
    if (JSON.stringify(next) === JSON.stringify(this.state)) return;
    writePartState(this.files, next);
    this.state = next;
  }

  private async receive(res: http.IncomingMessage): Promise<void> {
    try {
      for await (const chunk of res) {
        const data = chunk as Buffer;
        let written = 0;
        while (written < data.length) {
          const { bytesWritten } = await this.handle.write(data, written, data.length - written, this.offset + written);
          written += bytesWritten;
        }
        // Hash exactly what is on disk, so a retry can go on from `offset` with the same hash.
        this.hash.update(data);
        this.offset += data.length;
        this.options.progress.update(this.offset);
      }
    } catch (error) {
      throw this.broken(error);
    }
    if (!res.complete || (this.total !== undefined && this.offset < this.total)) {
      throw this.broken(Object.assign(new Error('premature close'), { code: 'ECONNRESET' }));
    }
  }

  /** A body that stopped short: transient (retried) unless the disk write itself failed. */
  private broken(error: unknown): UdnsError {
    const cause = error as NodeJS.ErrnoException;
    if (cause.syscall === 'write' || cause.code === 'ENOSPC' || cause.code === 'EDQUOT') {
      return new UdnsError('internal', `cannot write ${this.files.part} (${cause.code ?? cause.message})`, { cause: error });
    }
    return new UdnsError('server_unreachable', `the connection to ${this.url.host} broke after ${formatBytes(this.offset)} (${cause.code ?? cause.message})`, { cause: error });
  }

  /** Throws away the part: the bytes on disk do not belong to the file the share has now. */
  private async restart(): Promise<void> {
    await this.handle.truncate(0);
    this.offset = 0;
    this.resumedFrom = 0;
    this.hash = createHash('sha256');
    this.state = undefined;
    fs.rmSync(this.files.state, { force: true });
  }
}

/** Reads `Content-Range`: `bytes 100-199/1000` gives start and total, an unsatisfied range (a star before the slash) the total only. */
export function parseContentRange(header: string | undefined): { start?: number; total?: number } | undefined {
  const match = header ? /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(header.trim()) : null;
  if (!match) return undefined;
  return {
    ...(match[1] !== undefined ? { start: Number(match[1]) } : {}),
    ...(match[3] !== '*' ? { total: Number(match[3]) } : {}),
  };
}
