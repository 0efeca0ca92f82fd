/** One side's body as the inspector keeps it: the first bytes up to a cap, and the full count. */
export interface CapturedBody {
  /** What was kept (at most the cap); chunked bodies are kept de-chunked. */
  chunks: Buffer[];
  kept: number;
  /** Every body byte that passed, kept or not. */
  total: number;
}

/** Where the exchange's request went: the route's local origin (what a replay dials). */
export interface OriginAddress {
  host: string;
  port: number;
}

/**
 * A request and its response as they passed through the agent (or a replay). Filled in as the
 * bytes go by: `state` says how far it got.
 */
export interface CapturedExchange {
  id: number;
  /** Epoch ms of the request head. */
  startedAt: number;
  /** performance.now() of the request head: `durationMs` is measured from it. */
  startedClock: number;
  state: 'pending' | 'complete' | 'aborted';
  /** Why it was aborted (connection closed before the response ended…). */
  error: string | null;
  route: string;
  origin: OriginAddress;
  remoteAddress: string;
  method: string;
  target: string;
  httpVersion: string;
  /** The request head as the origin got it (our forwarding headers included), in order. */
  requestHeaders: Array<[string, string]>;
  requestBody: CapturedBody;
  status: number | null;
  statusText: string;
  responseHeaders: Array<[string, string]>;
  responseBody: CapturedBody;
  /** ms from the request head to the first response byte, then to the response's end. */
  firstByteMs: number | null;
  durationMs: number | null;
  /** Set on a replay: the id it replays. */
  replayOf: number | null;
  /** A WebSocket (101) or CONNECT tunnel: its frames are not captured. */
  upgraded: boolean;
  /** Bytes this exchange holds in memory (heads + kept bodies), for the ring's byte bound. */
  bytes: number;
}

export function emptyBody(): CapturedBody {
  return { chunks: [], kept: 0, total: 0 };
}

/** The kept bytes of a body, joined. */
export function bodyBytes(body: CapturedBody): Buffer {
  return body.chunks.length === 1 ? body.chunks[0]! : Buffer.concat(body.chunks, body.kept);
}

/** Header value (first, case-insensitive) or undefined. */
export function headerValue(headers: ReadonlyArray<[string, string]>, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [key, value] of headers) if (key.toLowerCase() === lower) return value;
  return undefined;
}
