import type { ServerHttp2Stream } from 'node:http2';
import type { VisitorInfo } from '../../protocol/index.js';

const visitorKey = Symbol('udns.visitor');

/**
 * Makes an HTTP/2 stream usable where Node's HTTP server and http-proxy expect a net.Socket:
 * they call setNoDelay/setKeepAlive (which a stream lacks; the tunnel's own socket already has
 * both) and read remoteAddress. The stream is changed in place and returned.
 */
export function asVisitorSocket(stream: ServerHttp2Stream, visitor: VisitorInfo): ServerHttp2Stream {
  const target = stream as unknown as Record<string | symbol, unknown>;
  target.setNoDelay = () => stream;
  target.setKeepAlive = () => stream;
  target.unref = () => stream;
  target.ref = () => stream;
  target[visitorKey] = visitor;
  // Node's HTTP/1 server writes status line and headers as latin1 strings; on an Http2Stream
  // such string chunks were sent corrupted (first 16 bytes replaced by freed memory, ~20% of
  // responses on Node 20.20). Buffers are sent intact, so convert before they reach the stream.
  const write = stream.write.bind(stream) as (chunk: unknown, encoding?: unknown, callback?: unknown) => boolean;
  target.write = (chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
    if (typeof chunk === 'string') {
      const bytes = Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
      return typeof encoding === 'function' ? write(bytes, encoding) : write(bytes, callback);
    }
    return write(chunk, encoding, callback);
  };
  Object.defineProperty(stream, 'remoteAddress', { value: visitor.remoteAddress, configurable: true });
  Object.defineProperty(stream, 'remotePort', { value: visitor.remotePort, configurable: true });
  return stream;
}

/** The visitor a socket handed to Node's HTTP server came from, if it was a tunnel stream. */
export function visitorOf(socket: object): VisitorInfo | undefined {
  return (socket as Record<symbol, VisitorInfo | undefined>)[visitorKey];
}
