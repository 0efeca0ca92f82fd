import { createRequire } from 'node:module';

/** The parts of Node's llhttp binding (`_http_common`, what node:http itself uses) we drive. */
interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | (Error & { code: string; reason: string; bytesParsed: number });
  finish(): undefined | (Error & { code: string });
  close(): void;
  [callback: number]: (...args: never[]) => unknown;
}
interface LlhttpBinding {
  HTTPParser: {
    new(): LlhttpParser;
    REQUEST: number;
    kOnMessageBegin: number;
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
    kOnExecute: number;
    kLenientNone: number;
  };
  methods: string[];
}
const { HTTPParser, methods } = createRequire(import.meta.url)('_http_common') as LlhttpBinding;

/** llhttp refuses heads over this; far above any generated head, so size never decides. */
const MAX_HEAD_BYTES = 1 << 20;

/** One request as llhttp framed it. */
export interface LlhttpMessage {
  /** Null while the head is incomplete (or when llhttp refused it). */
  head: {
    method: string;
    url: string;
    version: string;
    /** Raw name/value pairs in order, values as llhttp trimmed them. */
    headers: Array<[string, string]>;
    upgrade: boolean;
    keepAlive: boolean;
  } | null;
  body: Buffer;
  trailers: Array<[string, string]>;
  complete: boolean;
}

/** How the byte stream ended for llhttp. */
export type LlhttpEnd =
  | { kind: 'clean' }
  | { kind: 'incomplete' }
  | { kind: 'error'; code: string; reason: string }
  | { kind: 'upgrade'; rest: Buffer };

export interface LlhttpStream {
  messages: LlhttpMessage[];
  end: LlhttpEnd;
}

/**
 * Frames a stream of HTTP/1.x requests exactly as a node:http server would (llhttp, strict, as
 * Node's default `insecureHTTPParser: false`), into messages with their heads, bodies and
 * trailers. Where llhttp stops at an upgrade (an `Upgrade` request after its body, a CONNECT
 * after its head), `switchOnFirstUpgrade` says what the origin answered: on the connection's
 * first request, a switch ends the HTTP part (`rest` is raw); otherwise (a declined upgrade, or
 * a later request, whose upgrade our rewriter strips) parsing goes on with the next request.
 */
export function parseWithLlhttp(input: Buffer, switchOnFirstUpgrade: boolean): LlhttpStream {
  const messages: LlhttpMessage[] = [];
  let offset = 0;
  for (;;) {
    const parser = new HTTPParser();
    let pendingHeaders: string[] = [];
    let pendingUrl = '';
    let current: LlhttpMessage | null = null;
    const pairs = (flat: string[]): Array<[string, string]> => {
      const out: Array<[string, string]> = [];
      for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
      return out;
    };
    parser[HTTPParser.kOnMessageBegin] = () => {
      current = { head: null, body: Buffer.alloc(0), trailers: [], complete: false };
      messages.push(current);
    };
    // Node flushes header pairs (and the URL) in batches when a head spans several reads.
    parser[HTTPParser.kOnHeaders] = ((headers: string[], url: string) => {
      pendingHeaders.push(...headers);
      pendingUrl += url;
    }) as never;
    parser[HTTPParser.kOnHeadersComplete] = ((major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, _status: unknown, _message: unknown, upgrade: boolean, keepAlive: boolean) => {
      current!.head = {
        method: methods[method] ?? String(method),
        url: url ?? pendingUrl,
        version: `${major}.${minor}`,
        headers: pairs(headers ?? pendingHeaders),
        upgrade,
        keepAlive,
      };
      pendingHeaders = [];
      pendingUrl = '';
      return 0;
    }) as never;
    parser[HTTPParser.kOnBody] = ((chunk: Buffer) => {
      current!.body = Buffer.concat([current!.body, chunk]);
    }) as never;
    parser[HTTPParser.kOnMessageComplete] = () => {
      current!.trailers = pairs(pendingHeaders);
      current!.complete = true;
      pendingHeaders = [];
      pendingUrl = '';
    };
    parser[HTTPParser.kOnExecute] = () => undefined;
    parser.initialize(HTTPParser.REQUEST, {}, MAX_HEAD_BYTES, HTTPParser.kLenientNone);
    const firstIndex = messages.length;
    // The binding answers an empty buffer after a finished one with undefined: skip the call.
    const result = offset < input.length ? parser.execute(input.subarray(offset)) : 0;
    if (typeof result !== 'number') {
      parser.close();
      return { messages, end: { kind: 'error', code: result.code, reason: result.reason } };
    }
    const last = messages.at(-1);
    if (last?.head?.upgrade && last.complete && messages.length > firstIndex) {
      parser.close();
      offset += result;
      const rest = input.subarray(offset);
      if (messages.length === 1 && switchOnFirstUpgrade) return { messages, end: { kind: 'upgrade', rest } };
      if (!last.head.keepAlive) {
        // What llhttp does after any request that closes the connection: line breaks only.
        const extra = rest.findIndex((byte) => byte !== 0x0d && byte !== 0x0a);
        return { messages, end: extra === -1 ? { kind: 'clean' } : { kind: 'error', code: 'HPE_CLOSED_CONNECTION', reason: 'data after a declined upgrade that closes' } };
      }
      continue;
    }
    const finished = parser.finish();
    parser.close();
    return { messages, end: finished === undefined ? { kind: 'clean' } : { kind: 'incomplete' } };
  }
}
