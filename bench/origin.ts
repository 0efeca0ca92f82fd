import { fileURLToPath } from 'node:url';
import { startHelperServer, type ManagedProcess, type ProcessGroup } from './processes.js';

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
  return startHelperServer(group, 'origin', script, [], /^origin listening on (\d+)$/);
}
