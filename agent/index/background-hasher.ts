import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { commitPlain } from '../../protocol/sealed-file.js';

/** Reads a whole file and returns its lowercase hex SHA-256. */
export type FileHasher = (realPath: string) => Promise<string>;

/**
 * Hashes with modest reads (256 KiB): one file at a time holds one libuv thread and a quarter
 * MiB, leaving the other threads and the disk's attention to the share's visitors.
 */
export const hashFileSha256: FileHasher = async (realPath) => {
  const hash = createHash('sha256');
  await pipeline(fs.createReadStream(realPath, { highWaterMark: 256 * 1024 }), hash);
  return hash.digest('hex');
};

/** Reads a whole file for a paid listing: its SHA-256 and plaintext Merkle root (lowercase hex), in one pass. */
export type FileCommitter = (realPath: string) => Promise<{ sha256: string; merkleRoot: string }>;

/** The listing's commitment to a paid file (protocol/sealed-file.ts commitPlain: 1 MiB chunks). */
export const commitFilePlain: FileCommitter = async (realPath) => {
  const { sha256, root } = await commitPlain(realPath);
  return { sha256, merkleRoot: root };
};

/**
 * A queue of files to hash, worked through one file at a time in the background. `work(key)`
 * does one file (hash, check, store); the queue only orders and paces: a key queued twice is
 * hashed once, and the loop yields to the event loop between files.
 */
export class BackgroundHasher {
  private readonly queue = new Set<string>();
  private running = false;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly work: (key: string) => Promise<void>) {}

  enqueue(key: string): void {
    if (this.stopped) return;
    this.queue.add(key);
    if (!this.running) void this.run();
  }

  get pending(): number {
    return this.queue.size + (this.running ? 1 : 0);
  }

  /** Resolves once the queue is empty and no file is being hashed. */
  idle(): Promise<void> {
    if (!this.running && this.queue.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    this.queue.clear();
  }

  private async run(): Promise<void> {
    this.running = true;
    while (!this.stopped && this.queue.size > 0) {
      const key = this.queue.values().next().value!;
      this.queue.delete(key);
      await this.work(key).catch(() => {});
      await nextTurn();
    }
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
