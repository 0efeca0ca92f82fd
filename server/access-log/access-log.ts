import fs from 'node:fs';
import path from 'node:path';
import { UdnsError } from '../../protocol/index.js';

/** Lines waiting for the disk beyond this many bytes are dropped (and counted), never held without bound. */
export const ACCESS_LOG_MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/**
 * How long a line waits for others to share its write. One fs.write costs the edge 30–90 µs of
 * CPU (the thread pool's round trip) against ~4 µs for the bytes themselves: lines one by one
 * (a visitor per connection, a flood of bad requests) nearly doubled the CPU per request.
 */
export const ACCESS_LOG_BATCH_MS = 10;
/** Lines queued meanwhile that are written at once after a write rather than after another delay. */
const WRITE_AT_ONCE_BYTES = 64 * 1024;

/** What `-` writes to: process.stderr, or a pino destination on the same descriptor. */
export interface AccessLogStderr {
  /** False once it holds more than it wants to: the log waits for 'drain' before the next batch. */
  write(text: string): boolean;
  once(event: 'drain' | 'error' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'error' | 'close', listener: () => void): unknown;
}

/** Where and how the access log is written. */
export interface AccessLogOptions {
  /** A file, appended to; `-` writes to stderr (no rotation). */
  readonly file: string;
  /**
   * Where `-` writes; default process.stderr. Give the program's log destination when it writes
   * to stderr too: with two writers on one pipe, a write the pipe takes only in part (its reader
   * fell behind) let the other writer's bytes land in the middle of a line.
   */
  readonly stderr?: AccessLogStderr;
  /** Rotate once the file would grow past this many bytes; 0 never (logrotate with SIGHUP instead). */
  readonly maxBytes: number;
  /** Rotated files kept: `FILE.1` (newest) to `FILE.<keep>`; older ones are deleted. */
  readonly keep: number;
  /** Told of every line: written (true) or dropped (false: queue full or the write failed). */
  readonly onLine?: (written: boolean) => void;
  /** Told when a write, rotation or reopen fails (the line is dropped, the log goes on). */
  readonly onError?: (error: Error) => void;
  /** Queue bound, for tests. */
  readonly maxQueuedBytes?: number;
  /** ACCESS_LOG_BATCH_MS, for tests; 0 writes as soon as the current task ends. */
  readonly batchMs?: number;
}

/**
 * The access log: one line per call, written whole and in order by one writer loop. Lines that
 * arrive while it writes, rotates or reopens wait in a queue, so rotation never loses or splits
 * a line: a file is closed only between two lines, each rotated file ends with a complete line,
 * and a line longer than `maxBytes` gets a file of its own. Rotation by size renames
 * FILE → FILE.1 → … → FILE.<keep>; {@link reopen} (SIGHUP) opens FILE afresh for logrotate.
 */
export class AccessLog {
  private fd: number | null;
  private size: number;
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private draining: Promise<void> | null = null;
  /** Starts the pending drain now instead of after the batch delay (flush, close). */
  private kick: (() => void) | null = null;
  private reopenWanted = false;
  private closed = false;
  private readonly maxQueued: number;
  private readonly toStderr: boolean;
  private readonly stderr: AccessLogStderr;

  /**
   * Opens the file at once, so a path that cannot be written is a start-up error.
   * @throws UdnsError `config_invalid` naming the file and the system's reason
   */
  constructor(private readonly options: AccessLogOptions) {
    this.maxQueued = options.maxQueuedBytes ?? ACCESS_LOG_MAX_QUEUED_BYTES;
    this.toStderr = options.file === '-';
    this.stderr = options.stderr ?? process.stderr;
    if (options.file === '-') {
      this.fd = null;
      this.size = 0;
      return;
    }
    try {
      this.fd = fs.openSync(options.file, 'a', 0o640);
      this.size = fs.fstatSync(this.fd).size;
    } catch (error) {
      throw new UdnsError('config_invalid', `--access-log: cannot open ${options.file} for appending (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): give a writable file, or - for stderr`);
    }
  }

  /** Queues one line (without its newline). */
  write(line: string): void {
    if (this.closed) return;
    const bytes = Buffer.from(`${line}\n`, 'utf8');
    if (this.queuedBytes + bytes.length > this.maxQueued) {
      this.options.onLine?.(false);
      return;
    }
    this.queue.push(bytes);
    this.queuedBytes += bytes.length;
    this.startDrain();
  }

  /** Opens the file again after the lines queued so far (logrotate moved it away: SIGHUP). */
  reopen(): void {
    if (this.toStderr || this.closed) return;
    this.reopenWanted = true;
    this.startDrain();
  }

  /** Resolves once every line queued so far is written (at once: no batch delay). */
  async flush(): Promise<void> {
    while (this.draining !== null) {
      this.kick?.();
      await this.draining;
    }
  }

  /** Writes what is queued, then closes the file. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.fd !== null) {
      const fd = this.fd;
      this.fd = null;
      await new Promise<void>((resolve) => fs.close(fd, () => resolve()));
    }
  }

  /**
   * Starts the writer loop unless it runs, after the batch delay. It never starts synchronously,
   * only once `draining` is set: a loop that finished without awaiting anything (a write to
   * stderr) cleared `draining` before `??=` stored its settled promise, which then stayed there
   * for good: no later line was written, and flush() (so the edge's shutdown) spun forever.
   */
  private startDrain(): void {
    if (this.draining !== null) return;
    const delay = this.options.batchMs ?? ACCESS_LOG_BATCH_MS;
    const start = delay === 0 ? Promise.resolve() : new Promise<void>((resolve) => {
      const go = (): void => {
        clearTimeout(timer);
        this.kick = null;
        resolve();
      };
      const timer = setTimeout(go, delay);
      this.kick = go;
    });
    this.draining = start.then(() => this.drain());
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 || this.reopenWanted) {
        if (this.reopenWanted) {
          this.reopenWanted = false;
          await this.guard(() => this.openAgain());
          continue;
        }
        if (this.toStderr) {
          await this.writeToStderr();
          if (this.queuedBytes < WRITE_AT_ONCE_BYTES) break;
          continue;
        }
        if (this.fd === null && !(await this.guard(() => this.openAgain()))) {
          // The file cannot be opened (its folder went away): these lines are lost, the next try again.
          const lost = this.queue.splice(0, this.queue.length);
          this.queuedBytes = 0;
          for (let i = 0; i < lost.length; i++) this.options.onLine?.(false);
          continue;
        }
        const max = this.options.maxBytes;
        if (max > 0 && this.size > 0 && this.size + this.queue[0]!.length > max) {
          await this.guard(() => this.rotate());
        }
        // As many whole lines as fit before the limit (at least one).
        let count = 0;
        let bytes = 0;
        while (count < this.queue.length && (count === 0 || max === 0 || this.size + bytes + this.queue[count]!.length <= max) && bytes < 1024 * 1024) {
          bytes += this.queue[count]!.length;
          count++;
        }
        const batch = this.queue.splice(0, count);
        this.queuedBytes -= bytes;
        const written = await this.guard(() => writeAll(this.fd!, count === 1 ? batch[0]! : Buffer.concat(batch, bytes)));
        if (written) this.size += bytes;
        for (let i = 0; i < count; i++) this.options.onLine?.(written);
        // The few lines that came during the write wait for more (a write per line under steady
        // traffic cost as much as none at all); a backlog goes on at once.
        if (this.queuedBytes < WRITE_AT_ONCE_BYTES && !this.reopenWanted) break;
      }
    } finally {
      this.draining = null;
      if (this.queue.length > 0 || this.reopenWanted) this.startDrain();
    }
  }

  /** Up to 1 MiB of whole lines in one write; waits for 'drain' when the stream holds too much. */
  private async writeToStderr(): Promise<void> {
    let count = 0;
    let bytes = 0;
    while (count < this.queue.length && (count === 0 || bytes + this.queue[count]!.length <= 1024 * 1024)) bytes += this.queue[count++]!.length;
    const batch = this.queue.splice(0, count);
    this.queuedBytes -= bytes;
    let room = true;
    const written = await this.guard(async () => { room = this.stderr.write(Buffer.concat(batch, bytes).toString('utf8')); });
    for (let i = 0; i < count; i++) this.options.onLine?.(written);
    if (!room) await drained(this.stderr);
  }

  private async guard(step: () => Promise<void>): Promise<boolean> {
    try {
      await step();
      return true;
    } catch (error) {
      this.options.onError?.(error as Error);
      return false;
    }
  }

  private async rotate(): Promise<void> {
    const { file, keep } = this.options;
    await closeFd(this.fd!);
    this.fd = null;
    try {
      if (keep === 0) await fs.promises.rm(file, { force: true });
      else {
        // Only the rotated files that exist are renamed (one directory read, not `keep` tries).
        const base = path.basename(file);
        const indexes = (await fs.promises.readdir(path.dirname(file)))
          .map((name) => (name.startsWith(`${base}.`) && /^\d+$/.test(name.slice(base.length + 1)) ? Number(name.slice(base.length + 1)) : 0))
          .filter((index) => index >= 1)
          .sort((a, b) => b - a);
        for (const index of indexes) {
          if (index >= keep) await fs.promises.rm(`${file}.${index}`, { force: true });
          else await fs.promises.rename(`${file}.${index}`, `${file}.${index + 1}`).catch(ignoreMissing);
        }
        await fs.promises.rename(file, `${file}.1`).catch(ignoreMissing);
      }
    } finally {
      // Whatever happened to the old file, lines go on to FILE.
      await this.openAgain();
    }
  }

  private async openAgain(): Promise<void> {
    if (this.fd !== null) {
      await closeFd(this.fd);
      this.fd = null;
    }
    const fd = await new Promise<number>((resolve, reject) => fs.open(this.options.file, 'a', 0o640, (error, opened) => (error ? reject(error) : resolve(opened))));
    this.fd = fd;
    this.size = (await fs.promises.stat(this.options.file)).size;
  }
}

/** Resolves once `stream` drained, or failed or closed (then nothing more will come of waiting). */
function drained(stream: AccessLogStderr): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('error', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('error', done);
    stream.once('close', done);
  });
}

function ignoreMissing(error: NodeJS.ErrnoException): void {
  if (error.code !== 'ENOENT') throw error;
}

function closeFd(fd: number): Promise<void> {
  return new Promise((resolve) => fs.close(fd, () => resolve()));
}

async function writeAll(fd: number, bytes: Buffer): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    offset += await new Promise<number>((resolve, reject) => fs.write(fd, bytes, offset, bytes.length - offset, null, (error, written) => (error ? reject(error) : resolve(written))));
  }
}
