import { fileURLToPath } from 'node:url';
import type { ManagedProcess, ProcessGroup } from './processes.js';

/** Path of the 1 KiB response wrk hammers. */
export const SMALL_PATH = '/1k';

/** Path of a streamed download of exactly `bytes` bytes. */
export function downloadPath(bytes: number): string {
  return `/download?bytes=${bytes}`;
}

/** Path that counts and discards a POSTed body, answering the count as text. */
export const UPLOAD_PATH = '/upload';

/** The origin server (bench/origin-server.ts) running as a child process. */
export interface Origin {
  port: number;
  process: ManagedProcess;
}

/**
 * Starts the origin as its own process on a loopback port of its choosing. It exits when its
 * stdin closes, so it cannot outlive this process even if cleanup never runs.
 */
export async function startOrigin(group: ProcessGroup): Promise<Origin> {
  const script = fileURLToPath(new URL('./origin-server.js', import.meta.url));
  const child = group.start('origin', process.execPath, [script], { keepStdin: true, env: { ...process.env, NODE_OPTIONS: '' } });
  const match = await child.waitForLine(/^origin listening on (\d+)$/, 15_000);
  return { port: Number(match[1]), process: child };
}
