import { setTimeout as sleep } from 'node:timers/promises';
import { UdnsError } from '../../protocol/index.js';
import { isTransient } from './share-http.js';

/** How hard `udns get` keeps trying through a broken connection or a restarting agent. */
export interface RetryPolicy {
  /** Failed attempts in a row (without progress) before giving up (`--retries`). */
  retries: number;
  /** Wait before retry `attempt` (1-based). */
  delayMs(attempt: number): number;
}

/** Default `--retries`: with {@link backoffDelayMs} that is about a minute of trying. */
export const DEFAULT_RETRIES = 10;

/** 0.5 s doubling to an 8 s cap: 0.5, 1, 2, 4, 8, 8… (10 retries ≈ 55 s). */
export function backoffDelayMs(attempt: number): number {
  return Math.min(8000, 500 * 2 ** Math.max(0, attempt - 1));
}

/**
 * Runs `task` until it succeeds, retrying only transient failures (connection lost or refused,
 * 502/503/504 while the agent restarts). `progressed` says whether the failed attempt moved the
 * download forward: then the count starts over, so a long download survives many separate
 * hiccups but not one endless outage. Anything else (wrong password, 404…) fails at once.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  note: (line: string) => void,
  task: () => Promise<T>,
  progressed: () => boolean = () => false,
): Promise<T> {
  let failures = 0;
  for (;;) {
    try {
      return await task();
    } catch (error) {
      if (!isTransient(error)) throw error;
      failures = progressed() ? 1 : failures + 1;
      const { code, message } = error as UdnsError;
      if (failures > policy.retries) {
        throw new UdnsError(code, `${message}; gave up after ${policy.retries} ${policy.retries === 1 ? 'retry' : 'retries'}: run the same command again to resume`, { cause: error });
      }
      const delay = policy.delayMs(failures);
      note(`${message}; retrying in ${(delay / 1000).toFixed(1)} s (${failures}/${policy.retries})`);
      await sleep(delay);
    }
  }
}
