/*
 * Crash points for the exchange's crash tests (test/e2e/exchange-crash.test.ts): with
 * UDNS_FAILPOINTS=name[,name…] in its environment, the edge kills itself with SIGKILL the
 * first time it reaches one of those names, the way etcd's gofail and FoundationDB's buggify
 * test recovery. Read once at start-up; without the variable every call is one Set lookup.
 */

const armed = new Set((process.env.UDNS_FAILPOINTS ?? '').split(',').map((name) => name.trim()).filter((name) => name !== ''));

/** Dies here (SIGKILL, no cleanup, no flush) when `name` is armed. */
export function failpoint(name: string): void {
  if (armed.size === 0 || !armed.has(name)) return;
  process.kill(process.pid, 'SIGKILL');
}
