import pino from 'pino';

/**
 * stderr as a pino destination that goes quiet, instead of taking the process with it, once
 * stderr is gone. pino disarms its destination only for EPIPE; any other write error (EIO
 * from a terminal that hung up: an SSH session dropped, the `script` of a test killed) was
 * re-emitted with no listener, the process died of it, and on the way out sonic-boom's
 * flushSync retried the failed write every 100 ms forever: the edge stopped serving and
 * ignored SIGTERM (seen: three edges wedged for 10 minutes). Shared by the edge and the agent.
 */
export function stderrLogDestination(): ReturnType<typeof pino.destination> {
  const stream = pino.destination({ fd: 2, sync: false });
  const noop = (): void => {};
  // Any failed write to stderr means it is gone (a closed pipe, a hung-up terminal, a full
  // disk under a redirect): the rest of the run logs nothing rather than retrying forever.
  stream.on('error', () => {
    Object.assign(stream, { write: () => true, end: noop, flushSync: noop, destroy: noop });
  });
  return stream;
}
