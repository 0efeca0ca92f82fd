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
  /** `1.1` or `1.0` (read from the head when asked). */
  readonly httpVersion: string;
  /** The request head as the origin got it (our forwarding headers included), kept as bytes. */
  requestHead: Buffer;
  /** Its header lines in order, parsed when first asked (the hot path never does). */
  readonly requestHeaders: Array<[string, string]>;
  requestBody: CapturedBody;
  status: number | null;
  statusText: string;
  /** The response head as the origin sent it (a copy), once it came. */
  responseHead: Buffer | null;
  /** Its header lines in order, parsed when first asked. */
  readonly responseHeaders: Array<[string, string]>;
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

/** The header lines of a head (`name: value` after its first line), in order. */
export function headLines(head: Buffer): Array<[string, string]> {
  const lines = head.toString('latin1').split('\r\n');
  const headers: Array<[string, string]> = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon > 0) headers.push([line.slice(0, colon), line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '')]);
  }
  return headers;
}

/** Header value (first, case-insensitive) or undefined. */
export function headerValue(headers: ReadonlyArray<[string, string]>, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [key, value] of headers) if (key.toLowerCase() === lower) return value;
  return undefined;
}
