import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { BatchedWriter } from '../../protocol/batched-writes.js';
import type { VisitorInfo } from '../../protocol/index.js';
import type { Logger } from '../logger.js';
import type { TunnelSession } from '../tunnel/tunnel-session.js';
import type { VisitorKind } from '../tunnel/visitor-slots.js';
import type { VisitorWatch } from '../observe/visitor-observer.js';
import { DOWN, UP } from '../quotas/connection-shaper.js';
import type { VisitorQuota } from '../quotas/visitor-quotas.js';

/** Once the agent has finished a connection, a visitor that keeps its side open gets this long. */
const HALF_OPEN_GRACE_MS = 5_000;

/** What became of a visitor connection handed to the bridge. */
export type BridgeOutcome = 'bridged' | 'busy' | 'tunnel-gone';

/**
 * Joins a visitor's socket to a new stream on the tunnel, both ways, with backpressure from
 * HTTP/2 flow control. `firstBytes` are bytes already read off the socket (the request head the
 * front door peeked at). On `'busy'` or `'tunnel-gone'` the socket is left to the caller.
 */
export function bridgeVisitor(
  socket: Socket,
  tunnel: TunnelSession,
  info: VisitorInfo,
  firstBytes: Buffer | null,
  logger: Logger,
  /** What the connection carries (the front door knows whether its first request switches protocols). */
  kind: VisitorKind,
  /** Metrics and access log (server/observe/): watches the bytes both ways, changes none. */
  watch?: VisitorWatch,
  /** Byte counts and bandwidth limits (server/quotas/), admitted by the caller; released here when the connection ends or is not bridged. */
  quota?: VisitorQuota,
): BridgeOutcome {
  let opened: ReturnType<TunnelSession['openVisitorStream']>;
  try {
    opened = tunnel.openVisitorStream(info, {
      kind,
      reclaim: () => {
        logger.debug('idle visitor connection closed');
        socket.destroy();
      },
    });
  } catch (error) {
    logger.debug({ err: error }, 'tunnel could not open a stream');
    quota?.release();
    return 'tunnel-gone';
  }
  if (opened === 'busy') {
    logger.warn({ visitor: info.remoteAddress }, 'stream limit reached, visitor refused');
    quota?.release();
    return 'busy';
  }
  const { stream, slot } = opened;
  watch?.attach(socket, stream, firstBytes);
  // Counted per (account, name) in place (two additions a chunk); shaped by pausing the side
  // the bytes came from while a bucket is in debt (connection-shaper.ts).
  const counter = quota?.counter ?? null;
  const shaper = quota?.shaper ?? null;
  if (quota !== undefined) socket.once('close', () => quota.release());
  if (firstBytes && firstBytes.length > 0) {
    stream.write(firstBytes);
    tunnel.countRelayed(firstBytes.length);
    if (counter !== null) counter.bytesIn += firstBytes.length;
    if (shaper !== null) shaper.charge(UP, firstBytes.length, socket, stream);
  }
  // One listener per direction forwards, counts and touches (not pipe() plus a counting
  // listener: one call and one emit fewer per chunk). The slot is what the limits need to tell an
  // idle keep-alive connection from one awaiting its answer; the byte count is the edge's relay
  // counter (it proves direct and push bypassed the edge). Backpressure as pipe() does it:
  // HTTP/2 flow control one way, the visitor's TCP window the other.
  const fromVisitor = (chunk: Buffer): void => {
    slot.touch(false);
    tunnel.countRelayed(chunk.length);
    if (!stream.write(chunk)) socket.pause();
    if (counter !== null) counter.bytesIn += chunk.length;
    if (shaper !== null) shaper.charge(UP, chunk.length, socket, stream);
  };
  const visitorEnded = (): void => {
    stream.end();
  };
  const resumeVisitor = (): void => {
    if (shaper === null || !shaper.holds(UP)) socket.resume();
  };
  // The tunnel's 16 KiB frames that arrive in one turn go to the visitor as one writev.
  const visitorWriter = new BatchedWriter(socket);
  const toVisitor = (chunk: Buffer): void => {
    slot.touch(true);
    tunnel.countRelayed(chunk.length);
    if (!visitorWriter.write(chunk)) stream.pause();
    if (counter !== null) counter.bytesOut += chunk.length;
    if (shaper !== null) shaper.charge(DOWN, chunk.length, stream, socket);
  };
  const resumeStream = (): void => {
    if (shaper === null || !shaper.holds(DOWN)) stream.resume();
  };
  const stopUpstream = (): void => {
    socket.off('data', fromVisitor);
    socket.off('end', visitorEnded);
    stream.off('drain', resumeVisitor);
  };
  const stopDownstream = (): void => {
    stream.off('data', toVisitor);
    socket.off('drain', resumeStream);
  };

  stream.on('response', (headers) => {
    // The agent answers 200 once it has the stream; anything else means it could not serve it
    // (unknown route, local port refused for tcp routes). The visitor just sees the close.
    if (headers[':status'] !== 200) {
      logger.debug({ status: headers[':status'] }, 'agent refused visitor stream');
      socket.destroy();
    }
  });

  socket.on('data', fromVisitor);
  socket.on('end', visitorEnded);
  stream.on('drain', resumeVisitor);
  // The stream's end is not passed on as the visitor's: when the tunnel dies Node may end
  // streams cleanly, and that FIN would hand the visitor a truncated body that looks complete.
  stream.on('data', toVisitor);
  socket.on('drain', resumeStream);
  stream.on('end', () => {
    if (!tunnel.alive || stream.rstCode) {
      resetVisitor(socket);
      return;
    }
    socket.end();
    if (info.scheme !== 'tcp') {
      // The origin closed an HTTP connection: nothing more can happen on it. Free the stream
      // now (ending our side too, not with RST_STREAM: see CancelStream) and the visitor soon,
      // even if it never closes its side (half-close only has a meaning for raw TCP).
      stopUpstream();
      if (!stream.writableEnded) stream.end();
      // Late bytes from the visitor are read and dropped. The grace starts once the answer is
      // all handed to the kernel ('finish'), and ends with a close, not a reset: a reset would
      // throw away what a slow reader has not received yet.
      socket.resume();
      socket.once('finish', () => setTimeout(() => socket.destroy(), HALF_OPEN_GRACE_MS).unref());
    }
  });
  stream.on('close', () => {
    // A reset (any non-zero code) or a stream that closed before its end: the visitor must see a break.
    if (stream.rstCode || !stream.readableEnded) resetVisitor(socket);
  });
  stream.on('error', (error) => {
    logger.debug({ err: error }, 'visitor stream failed');
    resetVisitor(socket);
  });
  // A visitor going away is everyday network noise (its 'error' is logged by whoever accepted
  // the socket): cancel the stream.
  socket.on('close', () => {
    if (stream.destroyed) return;
    stopUpstream();
    stopDownstream();
    tunnel.cancelVisitorStream(stream);
  });
  return 'bridged';
}

function resetVisitor(socket: Socket): void {
  if (socket.destroyed) return;
  // A TCP reset tells the visitor the transfer broke; TLS sockets cannot reset (Node throws).
  if (!(socket instanceof TLSSocket) && socket._handle) socket.resetAndDestroy();
  else socket.destroy();
}

declare module 'node:net' {
  interface Socket {
    /** Node's internal handle; absent once the socket is closed. */
    _handle?: unknown;
  }
}
