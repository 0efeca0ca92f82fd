import zlib from 'node:zlib';
import { bodyBytes, headerValue, type CapturedBody, type CapturedExchange } from './captured-exchange.js';

/** A body as the API shows it: UTF-8 text when it is text, else base64. */
export interface BodyView {
  /** Every byte that passed. */
  bytes: number;
  /** Bytes kept (the cap cut the rest). */
  kept: number;
  truncated: boolean;
  contentType: string | null;
  /** `gzip`, `deflate` or `br` when the kept body was decoded for display. */
  decoded: string | null;
  encoding: 'utf8' | 'base64';
  data: string;
}

/** One line of the list. */
export interface ExchangeSummary {
  id: number;
  startedAt: string;
  state: CapturedExchange['state'];
  error: string | null;
  route: string;
  remoteAddress: string;
  method: string;
  path: string;
  status: number | null;
  statusText: string;
  firstByteMs: number | null;
  durationMs: number | null;
  requestBytes: number;
  responseBytes: number;
  responseType: string | null;
  replayOf: number | null;
  upgraded: boolean;
}

export interface ExchangeDetail extends ExchangeSummary {
  request: { httpVersion: string; headers: Array<[string, string]>; body: BodyView };
  response: { headers: Array<[string, string]>; body: BodyView };
}

const round = (ms: number | null): number | null => (ms === null ? null : Math.round(ms * 100) / 100);

export function summaryOf(exchange: CapturedExchange): ExchangeSummary {
  return {
    id: exchange.id,
    startedAt: new Date(exchange.startedAt).toISOString(),
    state: exchange.state,
    error: exchange.error,
    route: exchange.route,
    remoteAddress: exchange.remoteAddress,
    method: exchange.method,
    path: exchange.target,
    status: exchange.status,
    statusText: exchange.statusText,
    firstByteMs: round(exchange.firstByteMs),
    durationMs: round(exchange.durationMs),
    requestBytes: exchange.requestBody.total,
    responseBytes: exchange.responseBody.total,
    responseType: headerValue(exchange.responseHeaders, 'content-type') ?? null,
    replayOf: exchange.replayOf,
    upgraded: exchange.upgraded,
  };
}

export function detailOf(exchange: CapturedExchange, decodeCap: number): ExchangeDetail {
  return {
    ...summaryOf(exchange),
    request: { httpVersion: exchange.httpVersion, headers: exchange.requestHeaders, body: bodyView(exchange.requestBody, exchange.requestHeaders, decodeCap) },
    response: { headers: exchange.responseHeaders, body: bodyView(exchange.responseBody, exchange.responseHeaders, decodeCap) },
  };
}

function bodyView(body: CapturedBody, headers: ReadonlyArray<[string, string]>, decodeCap: number): BodyView {
  let bytes = bodyBytes(body);
  const truncated = body.total > body.kept;
  let decoded: string | null = null;
  const coding = headerValue(headers, 'content-encoding')?.trim().toLowerCase();
  // Only a whole body decodes; a cut one is shown as it came.
  if (!truncated && bytes.length > 0 && (coding === 'gzip' || coding === 'deflate' || coding === 'br')) {
    try {
      const options = { maxOutputLength: decodeCap };
      bytes = coding === 'gzip' ? zlib.gunzipSync(bytes, options) : coding === 'deflate' ? zlib.inflateSync(bytes, options) : zlib.brotliDecompressSync(bytes, options);
      decoded = coding;
    } catch {
      // Not decodable (or larger than the cap once decoded): shown as the bytes that passed.
    }
  }
  const text = isText(bytes) ? bytes.toString('utf8') : null;
  return {
    bytes: body.total, kept: body.kept, truncated, contentType: headerValue(headers, 'content-type') ?? null, decoded,
    encoding: text === null ? 'base64' : 'utf8', data: text ?? bytes.toString('base64'),
  };
}

/** Valid UTF-8 without NUL or most control bytes: shown as text. */
function isText(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte < 0x09 || (byte > 0x0d && byte < 0x20 && byte !== 0x1b)) return false;
  }
  // A cut at the cap may split a character: that last partial one is forgiven.
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(trimPartialCharacter(bytes));
    return true;
  } catch {
    return false;
  }
}

function trimPartialCharacter(bytes: Buffer): Buffer {
  let end = bytes.length;
  let back = 0;
  while (end > 0 && back < 3 && (bytes[end - 1]! & 0xc0) === 0x80) { end--; back++; }
  if (end > 0 && bytes[end - 1]! >= 0xc0) return bytes.subarray(0, end - 1);
  return bytes;
}

/** Whether `exchange` holds `needle` (lower-case) in its request line, headers or kept bodies. */
export function exchangeMatches(exchange: CapturedExchange, needle: string): boolean {
  if (`${exchange.method} ${exchange.target} ${exchange.status ?? ''} ${exchange.statusText}`.toLowerCase().includes(needle)) return true;
  for (const [name, value] of [...exchange.requestHeaders, ...exchange.responseHeaders]) {
    if (`${name}: ${value}`.toLowerCase().includes(needle)) return true;
  }
  for (const body of [exchange.requestBody, exchange.responseBody]) {
    if (body.kept > 0 && bodyBytes(body).toString('utf8').toLowerCase().includes(needle)) return true;
  }
  return false;
}
