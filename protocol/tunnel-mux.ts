import type { Duplex } from 'node:stream';

/*
 * The tunnel multiplexer as the edge (server/) and the agent (agent/) use it: exactly the part
 * of node:http2's session and stream API they call, so that another multiplexer can take its
 * place. node:http2's ClientHttp2Session / ServerHttp2Session and their streams satisfy these
 * types as they are (protocol/mux-session.ts returns them); anything else has to behave as
 * they do where noted here.
 */

/**
 * Why a stream was reset (RST_STREAM), or 0 for a clean close. The values are HTTP/2's error
 * codes (RFC 9113 §7), so an http2-backed mux passes them through unchanged.
 */
export const TunnelResetCode = {
  /** Closed cleanly (also what `rstCode` reads after a clean close). */
  NO_ERROR: 0,
  /** The peer broke the tunnel protocol (a second control stream). */
  PROTOCOL_ERROR: 1,
  /** This end failed mid-stream (the local server broke its connection mid-response). */
  INTERNAL_ERROR: 2,
  /** Refused before anything was served (a tcp visitor refused by --allow-ip/--deny-ip). */
  REFUSED_STREAM: 7,
  /** No longer wanted (the visitor went away, CancelStream, the local connection failed). */
  CANCEL: 8,
} as const;

/** One of {@link TunnelResetCode}'s values. */
export type TunnelResetCode = (typeof TunnelResetCode)[keyof typeof TunnelResetCode];

/**
 * A stream's request headers, as sent and as received: lower-case names, pseudo-headers
 * (`:method`, `:authority`) beside ours (protocol/stream-headers.ts).
 */
export type TunnelHeaders = Record<string, string | string[] | undefined>;

/** The headers that answer a stream: `:status` is a number (200, 404, 502). */
export interface TunnelResponseHeaders {
  ':status'?: number;
  [name: string]: string | string[] | number | undefined;
}

/**
 * One stream of the mux: a Duplex carrying the visitor's (or the control channel's) bytes both
 * ways, with credit-on-read flow control (a paused reader stops the peer's writes).
 *
 * What a replacement must keep from http2: `'end'` only for the peer's clean end of its side;
 * a reset or a lost tunnel makes `'close'` come with `readableEnded` false or `rstCode` non-zero
 * (the bridge tells visitors a break from a complete answer by these); `'close'` exactly once,
 * after which `destroyed` is true.
 */
export interface TunnelStream extends Duplex {
  /** The stream's id within its tunnel (CancelStream and transfer reports name streams by it); absent until assigned. */
  readonly id?: number;
  /** The reset code it closed with ({@link TunnelResetCode}); 0 when it closed cleanly. Meaningful once closed. */
  readonly rstCode: number | undefined;
  /** Resets the stream with `code` (a {@link TunnelResetCode}); a no-op once closed. */
  close(code?: number): void;
}

/** A stream the edge opened (one per visitor connection, and the control stream). */
export interface EdgeTunnelStream extends TunnelStream {
  /** The agent's answer to the stream's headers: 200 when it serves it, another status when not. */
  on(event: 'response', listener: (headers: TunnelResponseHeaders) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

/** A stream as the agent receives it: it answers the headers once, before or beside its bytes. */
export interface AgentTunnelStream extends TunnelStream {
  /** Sends the answer (the edge sees it as `'response'`); `endStream` ends this side with it. */
  respond(headers: TunnelResponseHeaders, options?: { endStream?: boolean }): void;
  /** True once {@link respond} was called. */
  readonly headersSent: boolean;
}

/** The edge's side of a tunnel: it opens the streams. */
export interface EdgeTunnelMux {
  /**
   * Opens a stream with `headers` (the agent gets them with its `'stream'` event). Bytes may be
   * written at once, before the answer. Throws when the mux is closing or gone.
   */
  request(headers: TunnelHeaders, options: { endStream: false }): EdgeTunnelStream;
  /** What the agent advertised: the streams it takes at once (undefined: no limit said). */
  readonly remoteSettings: { readonly maxConcurrentStreams?: number };
  /** Gone: no stream can be opened any more. */
  readonly destroyed: boolean;
  /** Closing: {@link close} was called (or the peer said goodbye); open streams may finish. */
  readonly closed: boolean;
  /** Graceful close: no new streams, open ones finish, then the mux is gone (GOAWAY in HTTP/2). */
  close(): void;
  /** Ends the mux and every stream at once, and its transport with it. */
  destroy(): void;
  /** Once, when the mux is gone for any reason (its transport too). */
  once(event: 'close', listener: () => void): this;
}

/** The agent's side of a tunnel: it receives the edge's streams. */
export interface AgentTunnelMux {
  /** Each stream the edge opens, with its headers (the control stream first). */
  on(event: 'stream', listener: (stream: AgentTunnelStream, headers: TunnelHeaders) => void): this;
  /** Once, when the mux is gone for any reason (its transport too). */
  once(event: 'close', listener: () => void): this;
  readonly destroyed: boolean;
  /** Graceful close: no new streams, open ones finish, then the mux is gone. */
  close(): void;
  /** Ends the mux and every stream at once, and its transport with it. */
  destroy(): void;
}
