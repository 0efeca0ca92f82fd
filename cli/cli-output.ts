import { isUdnsError } from '../protocol/index.js';

/**
 * A reader that went away (`udns server | head -1`) makes every later write to stdout or stderr
 * fail with EPIPE, which Node raises as an 'error' event that kills the process with a stack
 * trace. Programs keep running without their output instead: the edge goes on serving, like
 * its logger (pino drops a broken destination too), and stops on SIGTERM as usual.
 */
export function surviveClosedOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
    });
  }
}

/** Results go to stdout… */
export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** …progress and problems to stderr. */
export function warn(line: string): void {
  process.stderr.write(`udns: ${line}\n`);
}

/** Exit status for a UdnsError code: 2 for bad input, 1 for everything else. */
function exitCodeFor(error: unknown): number {
  if (isUdnsError(error) && ['config_invalid', 'name_invalid', 'name_reserved', 'bad_request', 'route_invalid', 'record_invalid'].includes(error.code)) return 2;
  return 1;
}

/** The CLI's one error handler: one readable line on stderr, a non-zero exit. */
export function failAndExit(error: unknown): never {
  if (isUdnsError(error)) {
    warn(error.message);
  } else if (error instanceof Error) {
    warn(`unexpected error: ${error.message}`);
    if (process.env.UDNS_DEBUG) process.stderr.write(`${error.stack}\n`);
  } else {
    warn(`unexpected error: ${String(error)}`);
  }
  process.exit(exitCodeFor(error));
}
