/**
 * For a benchmark's helper server (a child process): exit when the parent closes our stdin
 * (it went away, even by SIGKILL) or on SIGTERM/SIGINT, so no server outlives a run.
 */
export function exitWithParent(): void {
  const quit = (): void => process.exit(0);
  process.stdin.on('end', quit);
  process.stdin.on('close', quit);
  process.stdin.resume();
  process.once('SIGTERM', quit);
  process.once('SIGINT', quit);
}
