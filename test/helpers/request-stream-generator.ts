import type { SeededRandom } from './seeded-random.js';

/** A generated visitor byte stream: requests, maybe mutated, cut into the chunks a socket delivers. */
export interface RequestStreamCase {
  input: Buffer;
  chunks: Buffer[];
  /** What was done to the well-formed stream (empty: it is well-formed for both parsers). */
  mutations: string[];
}

/** The name every generated request is for (the route's public host). */
export const FUZZ_HOST = 'alice.localhost';

const METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH', 'PROPFIND', 'MKCOL'];
const TARGETS = ['/', '/a?b=c', '/x/y.html', '/%20space', '/a;p=1', "/q?x='1'&y=2", '/a#frag', '*', `http://${FUZZ_HOST}/abs`, '/long/' + 'p'.repeat(300)];
const PLAIN_HEADERS = [
  'User-Agent: fuzz/1.0',
  'Accept: */*',
  'Accept: text/html,application/xhtml+xml;q=0.9',
  'Cookie: a=1; b=2',
  'X-Custom: value with spaces\t',
  'Cache-Control: no-cache',
  'Content-Type: application/octet-stream',
  'Via: 1.1 somewhere',
  'Expect: 100-continue',
  'Te: trailers',
  'X-Empty:',
  'X-High: caf\xe9',
];
const SPOOFED = [
  'X-Forwarded-For: 6.6.6.6', 'x-forwarded-for: 6.6.6.6, 7.7.7.7', 'X_Forwarded_For: 6.6.6.6', 'X-FORWARDED-FOR: 6.6.6.6',
  'X-Forwarded-Proto: https', 'X-Forwarded-Host: evil.example', 'X-Forwarded-Port: 6666', 'X-Forwarded-Prefix: /evil',
  'Forwarded: for=6.6.6.6;proto=https', 'X-Real-IP: 6.6.6.6', 'x_real_ip: 6.6.6.6', 'True-Client-IP: 6.6.6.6',
  'CF-Connecting-IP: 6.6.6.6', 'X-Client-IP: 6.6.6.6', 'X-Forwarded-Ssl: on',
];
const CONNECTIONS = ['keep-alive', 'close', 'Keep-Alive', 'Close', 'keep-alive, X-Forwarded-For', 'x-real-ip', 'TE'];
const SPECIAL_BYTES = [' ', '\t', '\r', '\n', ':', '\0', '\x01', '\x0b', '\x0c', '\x7f', '\x80', '\xff', ';', '"', ',', '0', 'f', 'G', '-', '_', '='];
const SNIPPETS = [
  '\r\n', '\n', '\r', ' ', '\r\n ', '\r\n\t', '\r\n\r\n',
  'Transfer-Encoding: chunked\r\n', 'Content-Length: 5\r\n', 'Content-Length: 0\r\n', 'Content-Length: 12\r\n',
  'Transfer-Encoding: identity\r\n', 'Connection: close\r\n', 'Connection: keep-alive\r\n', 'Connection: upgrade\r\nUpgrade: x\r\n',
  'Proxy-Connection: upgrade\r\nUpgrade: x\r\n', 'Content_Length: 5\r\n', 'Transfer_Encoding: chunked\r\n', 'X_Forwarded_For: 9.9.9.9\r\n',
  'Proxy-Connection: close\r\n', 'Connection: close, keep-alive\r\n', 'Host: bob.localhost\r\n', `Host: ${FUZZ_HOST}\r\n`, 'X-Forwarded-For: 9.9.9.9\r\n',
  'GET /in HTTP/1.1\r\n', `GET /smuggled HTTP/1.1\r\nHost: ${FUZZ_HOST}\r\n\r\n`, '0\r\n\r\n', '5\r\nhello\r\n', ';ext="a b"',
];

/**
 * Builds one random visitor stream: 1–4 pipelined requests (methods, targets, HTTP/1.0 and
 * 1.1, keep-alive and close, Content-Length and chunked bodies with extensions and trailers,
 * spoofed forwarding headers, upgrades and CONNECT followed by raw bytes), then, in most cases,
 * mutations aimed at the framing (bytes and snippets inserted at line starts, CRLF turned into
 * LF or CR, obs-fold, space before a colon, duplicated lines, changed digits, truncation), split
 * at random points.
 */
export function generateRequestStream(random: SeededRandom): RequestStreamCase {
  const mutations: string[] = [];
  const count = random.pick([1, 1, 2, 2, 3, 4]);
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    const { text, switches } = request(random, i === 0, i === count - 1);
    if (i > 0 && random.chance(0.1)) parts.push('\r\n');
    parts.push(text);
    if (switches) {
      // After an upgrade or CONNECT: raw bytes, which may well look like HTTP.
      parts.push(random.pick(['\x81\x85hello', `GET /raw HTTP/1.1\r\nHost: ${FUZZ_HOST}\r\n\r\n`, 'SSH-2.0-x\r\n']));
      break;
    }
  }
  let input: Buffer = Buffer.from(parts.join(''), 'latin1');
  if (random.chance(0.6)) {
    for (let n = random.int(1, 3); n > 0; n--) input = mutate(random, input, mutations);
  }
  return { input, chunks: split(random, input), mutations };
}

/** One request; `switches` when it asks to leave HTTP (the caller then appends raw bytes). */
function request(random: SeededRandom, first: boolean, last: boolean): { text: string; switches: boolean } {
  const connect = first && last && random.chance(0.04);
  const method = connect ? 'CONNECT' : random.pick(METHODS);
  const target = connect ? `${FUZZ_HOST}:443` : random.pick(TARGETS);
  const http10 = random.chance(0.15);
  const headers: string[] = [];
  if (!http10 || random.chance(0.5)) headers.push(`Host: ${random.pick([FUZZ_HOST, `${FUZZ_HOST}:8080`, FUZZ_HOST.toUpperCase()])}`);
  for (let n = random.int(0, 3); n > 0; n--) headers.push(random.pick(PLAIN_HEADERS));
  for (let n = random.chance(0.4) ? random.int(1, 3) : 0; n > 0; n--) headers.push(random.pick(SPOOFED));
  // Only the last request may end the connection, so a well-formed stream stays well-formed.
  const upgrade = first && !connect && random.chance(0.1);
  if (upgrade) headers.push(random.pick(['Connection: Upgrade', 'Connection: keep-alive, Upgrade']), 'Upgrade: websocket');
  else if (http10 && !last) headers.push('Connection: keep-alive');
  else if (random.chance(0.25)) headers.push(`${random.chance(0.2) ? 'Proxy-Connection' : 'Connection'}: ${random.pick(last ? CONNECTIONS : CONNECTIONS.filter((c) => !/close/i.test(c)))}`);

  let body = '';
  const framing = connect ? 'none' : random.pick(['none', 'none', 'length', 'length', 'chunked']);
  if (framing === 'length') {
    body = bodyText(random, random.int(0, 40));
    headers.push(`Content-Length: ${body.length}`);
  } else if (framing === 'chunked' && !http10) {
    headers.push(`Transfer-Encoding: ${random.pick(['chunked', 'chunked', 'Chunked'])}`);
    for (let n = random.int(0, 3); n > 0; n--) {
      const data = bodyText(random, random.int(1, 20));
      const size = data.length.toString(16);
      body += `${random.chance(0.2) ? size.toUpperCase().padStart(3, '0') : size}${random.chance(0.2) ? random.pick([';a=b', ';a', ';a="q s"', ';a=b;c=d']) : ''}\r\n${data}\r\n`;
    }
    body += `0${random.chance(0.1) ? ';last' : ''}\r\n`;
    for (let n = random.chance(0.3) ? random.int(1, 2) : 0; n > 0; n--) body += `${random.pick([...SPOOFED, 'X-Checksum: 1', 'Server-Timing: a'])}\r\n`;
    body += '\r\n';
  }
  const lines = [`${method} ${target} HTTP/1.${http10 ? 0 : 1}`, ...random.shuffle(headers)];
  return { text: `${lines.join('\r\n')}\r\n\r\n${body}`, switches: upgrade || connect };
}

function bodyText(random: SeededRandom, length: number): string {
  switch (random.int(0, 3)) {
    case 0: return random.bytes(length).toString('latin1');
    case 1: return `GET /in-body HTTP/1.1\r\nHost: ${FUZZ_HOST}\r\n\r\n`.repeat(2).slice(0, length);
    default: return 'b'.repeat(length);
  }
}

function mutate(random: SeededRandom, input: Buffer, log: string[]): Buffer {
  if (input.length === 0) return input;
  const text = input.toString('latin1');
  const lineStarts = [0];
  for (let i = text.indexOf('\r\n'); i !== -1; i = text.indexOf('\r\n', i + 2)) lineStarts.push(i + 2);
  const at = random.int(0, text.length - 1);
  const lineAt = random.pick(lineStarts);
  const crlfs = lineStarts.slice(1).map((start) => start - 2);
  let out: string;
  switch (random.int(0, 10)) {
    case 0: {
      const byte = random.pick(SPECIAL_BYTES);
      out = text.slice(0, at) + byte + text.slice(at + 1);
      log.push(`replace@${at}=${JSON.stringify(byte)}`);
      break;
    }
    case 1: {
      const byte = random.pick(SPECIAL_BYTES);
      out = text.slice(0, at) + byte + text.slice(at);
      log.push(`insert@${at}=${JSON.stringify(byte)}`);
      break;
    }
    case 2:
    case 3: {
      const snippet = random.pick(SNIPPETS);
      out = text.slice(0, lineAt) + snippet + text.slice(lineAt);
      log.push(`line@${lineAt}+${JSON.stringify(snippet)}`);
      break;
    }
    case 4: {
      if (crlfs.length === 0) return input;
      const crlf = random.pick(crlfs);
      const by = random.pick(['\n', '\r', '\n\r', '\r\r\n']);
      out = text.slice(0, crlf) + by + text.slice(crlf + 2);
      log.push(`crlf@${crlf}=${JSON.stringify(by)}`);
      break;
    }
    case 5: {
      // Space (or tab) before a colon.
      const colon = text.indexOf(':', lineAt);
      if (colon === -1) return input;
      const ws = random.pick([' ', '\t']);
      out = text.slice(0, colon) + ws + text.slice(colon);
      log.push(`ws-before-colon@${colon}`);
      break;
    }
    case 6: {
      // Duplicate a line (a second Content-Length, Transfer-Encoding, Host…).
      const end = text.indexOf('\r\n', lineAt);
      if (end === -1) return input;
      out = text.slice(0, end + 2) + text.slice(lineAt, end + 2) + text.slice(end + 2);
      log.push(`dup-line@${lineAt}`);
      break;
    }
    case 7: {
      const digits = [...text.matchAll(/[0-9a-fA-F]/g)].map((m) => m.index);
      if (digits.length === 0) return input;
      const where = random.pick(digits);
      const digit = random.pick(['0', '1', '7', '9', 'a', 'F', '00', '-1', '+', ' ', '01']);
      out = text.slice(0, where) + digit + text.slice(where + 1);
      log.push(`digit@${where}=${digit}`);
      break;
    }
    case 8:
      out = text.slice(0, at);
      log.push(`truncate@${at}`);
      break;
    case 9: {
      const length = random.int(1, 4);
      out = text.slice(0, at) + text.slice(at + length);
      log.push(`delete@${at}+${length}`);
      break;
    }
    default: {
      // Obs-fold: the rest of a line continued on the next.
      const end = text.indexOf('\r\n', lineAt);
      if (end === -1) return input;
      const cut = random.int(lineAt, end);
      out = `${text.slice(0, cut)}\r\n${random.pick([' ', '\t'])}${text.slice(cut)}`;
      log.push(`obs-fold@${cut}`);
    }
  }
  return Buffer.from(out, 'latin1');
}

/** Cuts `input` where a network could: anywhere, sometimes into single bytes. */
function split(random: SeededRandom, input: Buffer): Buffer[] {
  if (input.length <= 1) return [input];
  if (random.chance(0.05)) return [...input].map((byte) => Buffer.from([byte]));
  const cuts = new Set<number>();
  for (let n = random.int(0, 6); n > 0; n--) cuts.add(random.int(1, input.length - 1));
  const points = [0, ...[...cuts].sort((a, b) => a - b), input.length];
  const chunks: Buffer[] = [];
  for (let i = 1; i < points.length; i++) chunks.push(input.subarray(points[i - 1], points[i]));
  return chunks;
}
