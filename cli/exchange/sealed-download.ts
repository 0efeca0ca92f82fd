import fs from 'node:fs';
import { UdnsError, isUdnsError } from '../../protocol/index.js';
import { SealedChunkChecker, sealedSize } from '../../protocol/sealed-file.js';
import { formatBytes, type DownloadProgress } from '../download/download-progress.js';
import { withRetries, type RetryPolicy } from '../download/download-retry.js';
import { parseContentRange } from '../download/resumable-download.js';
import { checkShareStatus, requestShare, type ShareAccess } from '../download/share-http.js';

/** Everything {@link downloadSealed} needs besides the URL and the part file. */
export interface SealedDownload {
  /** `<file url>?sale=<id>`. */
  url: URL;
  /** `<dest>.sealed.part`: kept across runs, so a rerun resumes. */
  part: string;
  /** The plaintext size (the offer's). */
  size: number;
  /** The manifest's cipher leaves, already checked against the offer's cipher root. */
  cipherLeaves: readonly Buffer[];
  access: ShareAccess;
  progress: DownloadProgress;
  retry: RetryPolicy;
  label: string;
}

/**
 * Downloads a sale's sealed file into its part file, checking every chunk against the seller's
 * commitment as it arrives (SealedChunkChecker). The part survives an interruption: a later run
 * re-checks what is on disk (a chunk is kept only once it matched), cuts it back to the last
 * good chunk and asks for the rest with a Range. A lost connection or a restarting agent is
 * retried like any download; a chunk that does not match throws UdnsError `hash_mismatch` at
 * once (the caller cancels the sale: nothing is paid for bytes that are not what was offered).
 * Resolves with how many bytes an earlier run had already received.
 */
export async function downloadSealed(job: SealedDownload): Promise<{ resumedFrom: number }> {
  const total = sealedSize(job.size);
  let checker = await checkedOnDisk(job);
  let offset = checker.bytesVerified;
  const resumedFrom = offset;
  const handle = await fs.promises.open(job.part, offset > 0 ? 'r+' : 'w');
  try {
    await handle.truncate(offset);
    let started = false;
    let before = offset;
    await withRetries(job.retry, (line) => job.progress.note(line), async () => {
      before = offset;
      if (offset === total) return;
      const res = await requestShare(job.url, job.access, { headers: offset > 0 ? { range: `bytes=${offset}-` } : {} });
      await checkShareStatus(res, job.url, job.access);
      const status = res.statusCode ?? 0;
      if (status === 206 && offset > 0) {
        const range = parseContentRange(res.headers['content-range']);
        if (range?.start !== offset || (range.total !== undefined && range.total !== total)) {
          res.destroy();
          throw new UdnsError('protocol_violation', `${job.url.host} answered a range of the sealed file that does not start at byte ${offset} of ${total}`);
        }
      } else if (status === 200) {
        if (offset > 0) {
          // The whole file again: what is on disk was checked, so start over with the same checks.
          await handle.truncate(0);
          offset = 0;
          checker = new SealedChunkChecker(job.size, job.cipherLeaves);
        }
      } else {
        res.resume();
        throw new UdnsError('protocol_violation', `${job.url.host} answered ${status} to the sealed file's download`);
      }
      if (!started) job.progress.start(job.label, total, offset);
      started = true;
      try {
        for await (const chunk of res) {
          const data = chunk as Buffer;
          // Checked first: nothing after a bad chunk is written (and a rerun re-checks the part).
          checker.push(data);
          let written = 0;
          while (written < data.length) written += (await handle.write(data, written, data.length - written, offset + written)).bytesWritten;
          offset += data.length;
          job.progress.update(offset);
        }
      } catch (error) {
        if (isUdnsError(error, 'hash_mismatch')) throw error;
        const cause = error as NodeJS.ErrnoException;
        if (cause.syscall === 'write' || cause.code === 'ENOSPC' || cause.code === 'EDQUOT') {
          throw new UdnsError('internal', `cannot write ${job.part} (${cause.code ?? cause.message})`, { cause: error });
        }
        throw new UdnsError('server_unreachable', `the connection to ${job.url.host} broke after ${formatBytes(offset)} (${cause.code ?? cause.message})`, { cause: error });
      }
      if (offset < total) {
        throw new UdnsError('server_unreachable', `the connection to ${job.url.host} broke after ${formatBytes(offset)} (premature close)`, { cause: Object.assign(new Error('premature close'), { code: 'ECONNRESET' }) });
      }
    }, () => offset > before);
    checker.finish();
    await handle.sync();
    job.progress.finish(offset);
  } finally {
    await handle.close().catch(() => undefined);
    job.progress.stop();
  }
  return { resumedFrom };
}

/**
 * A checker positioned after the good chunks already on disk. A part that does not check
 * (a disk error, a file from something else) is started over: it is our copy, not the seller's fault.
 */
async function checkedOnDisk(job: SealedDownload): Promise<SealedChunkChecker> {
  let size: number;
  try {
    size = fs.statSync(job.part).size;
  } catch {
    return new SealedChunkChecker(job.size, job.cipherLeaves);
  }
  const probe = new SealedChunkChecker(job.size, job.cipherLeaves);
  if (size > 0 && size <= sealedSize(job.size)) {
    try {
      for await (const chunk of fs.createReadStream(job.part, { highWaterMark: 1 << 20 })) probe.push(chunk as Buffer);
    } catch (error) {
      if (!isUdnsError(error, 'hash_mismatch')) throw error;
      job.progress.note(`${job.label}: the partial download on disk does not check; starting it over`);
      return new SealedChunkChecker(job.size, job.cipherLeaves);
    }
  }
  return new SealedChunkChecker(job.size, job.cipherLeaves, probe.chunksVerified);
}
