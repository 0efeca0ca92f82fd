import http from 'node:http';
import net, { isIPv6 } from 'node:net';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { expect, test } from 'vitest';
import { parseWithLlhttp, type LlhttpMessage } from '../../test/helpers/llhttp-messages.js';
import { FUZZ_HOST, generateRequestStream } from '../../test/helpers/request-stream-generator.js';
import { SeededRandom } from '../../test/helpers/seeded-random.js';
import { FirstHeadReader, MAX_REQUEST_HEAD_BYTES, classifyHost, effectiveHost, httpsLocation, isRefusal, readFirstHead, type HeadRefusal, type RequestHead } from './request-head.js';

/*
 * Differential fuzzing of the front door's reading of a connection's first request head
 * (FirstHeadReader, what front-door.ts routes by) against llhttp, the parser of the edge's own
 * http.Server and of the agent's rewriter's model. Each case is a random visitor stream
 * (request-stream-generator.ts), often mutated there and then again here in the places the front
 * door reads (Host lines and values, request targets, methods, versions, Upgrade/Connection,
 * heads around 32 KiB), cut into chunks at random points. Wherever the front door routes (to a
 * tunnel, to the edge's app, or with a 308), llhttp must end that head at the same byte, accept
 * it, see the same host (an independent RFC 3986 reading of its target and Host, not ours) and
 * the same upgrade; a 308's Location must be built from what llhttp read. Anything else must be
 * refused (400/431). The verdict may not depend on the cuts. `npm test` runs a fixed seed;
 * `npm run test:chaos` sets UDNS_FUZZ_CASES and draws a fresh seed (UDNS_FUZZ_SEED replays).
 */

const CASES = Number(process.env.UDNS_FUZZ_CASES ?? 4000);
// `npm test` replays the same cases every run; a long campaign draws a fresh seed unless given one.
const random = SeededRandom.fromEnv(process.env.UDNS_FUZZ_SEED ?? (process.env.UDNS_FUZZ_CASES ? undefined : '20261201'));
const DOMAIN = 'localhost';
/** Routed heads also sent to a real http.Server: 150 in `npm test`, 1 in 100 cases in a long run. */
const CROSS_CHECKS = Math.max(150, Math.floor(CASES / 100));
const HTTPS_PORT = 8443;

type Verdict = RequestHead | HeadRefusal | null;

/** What the front door decides for a visitor whose bytes arrive as `chunks` (front-door.ts onData). */
function frontDoor(chunks: Buffer[]): Verdict {
  const reader = new FirstHeadReader();
  for (const chunk of chunks) {
    const verdict = reader.push(chunk);
    if (verdict !== null) return verdict;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Cases: the shared stream generator, then mutations where the front door looks.

const HOST_VALUES = [
  FUZZ_HOST, FUZZ_HOST.toUpperCase(), `${FUZZ_HOST}.`, `${FUZZ_HOST}..`, `.${FUZZ_HOST}`, `${FUZZ_HOST}:8080`, `${FUZZ_HOST}:`,
  `${FUZZ_HOST}:abc`, `${FUZZ_HOST}:80:90`, `${FUZZ_HOST}:-1`, `${FUZZ_HOST}:99999999`, `${FUZZ_HOST}:8080 `, `${FUZZ_HOST}\xa0`, `\xa0${FUZZ_HOST}`,
  `${FUZZ_HOST}\x85`, `${FUZZ_HOST} `, ` ${FUZZ_HOST}`, `\t${FUZZ_HOST}\t`, `${FUZZ_HOST}\x0b`, `${FUZZ_HOST}\x0c`, `${FUZZ_HOST}\x00`,
  `${FUZZ_HOST} evil`, `${FUZZ_HOST}\tevil`, `${FUZZ_HOST},bob.localhost`, `${FUZZ_HOST};x`, `"${FUZZ_HOST}"`, '', ' ', '\t',
  `[${FUZZ_HOST}]`, `[${FUZZ_HOST}]:80`, '[::1]', '[::1]:80', '[::1]x', '[::1', '::1', '[::ffff:127.0.0.1]', '[fe80::1%25eth0]', '[v1.x]', '[]',
  '127.0.0.1', '127.0.0.1:80', '0x7f.1', 'localhost', 'LOCALHOST.', 'bob.localhost', `${FUZZ_HOST}@bob.localhost`, `user@${FUZZ_HOST}`,
  `bob.localhost#${FUZZ_HOST}`, `${FUZZ_HOST}/x`, `${FUZZ_HOST}?x`, 'al\xe9ce.localhost', 'alice%2elocalhost', 'a_b.localhost', 'xn--bcher-kva.localhost',
  'x.alice.localhost', '-alice.localhost', 'alice-.localhost', `${'a'.repeat(64)}.localhost`, `${'a.'.repeat(130)}localhost`,
  'evil.example', `${FUZZ_HOST}.evil.example`, `${FUZZ_HOST}\r\nHost: bob.localhost`, `${FUZZ_HOST}\nHost: bob.localhost`, `${FUZZ_HOST}\rbob`,
];
const HOST_NAMES = ['Host', 'host', 'HOST', 'hOsT', 'Host ', 'Host\t', ' Host', '\tHost', 'X-Host', 'Hostx', 'Ho st', 'Host\x00', 'H\xf6st'];
const TARGETS = [
  '/', '/x?y', '*', '/a#f', '/a b', '/a\xa0', '/\x7f', '?x', '*x', '', 'x',
  `http://${FUZZ_HOST}/abs`, `HTTP://${FUZZ_HOST.toUpperCase()}/`, `hTTps://${FUZZ_HOST}`, 'https://bob.localhost/x', 'http://bob.localhost',
  'http://bob.localhost?x=1', `http://${FUZZ_HOST}:99/`, `http://${FUZZ_HOST}.:80/`, `http://${FUZZ_HOST}:/x`, `http://${FUZZ_HOST}:8a/`,
  'http://user@bob.localhost/', `http://${FUZZ_HOST}@bob.localhost/`, 'http://a@b@c/', 'http:///x', 'http://', 'http://?x', 'http://:80/',
  `ftp://${FUZZ_HOST}/`, `ws://${FUZZ_HOST}/`, `httpx://${FUZZ_HOST}/`, 'http://[::1]/', 'http://[::1]:8080/x', 'http://[::1/', `http://[${FUZZ_HOST}]/`,
  `http://${FUZZ_HOST}#x`, `http://al"ice.localhost/`, 'http://al%69ce.localhost/', `http:/${FUZZ_HOST}/`, `htt0p://${FUZZ_HOST}/`,
  `//${FUZZ_HOST}/x`, `${FUZZ_HOST}/x`, `${FUZZ_HOST}:443`, '[::1]:443', 'a_b:443', 'http://127.0.0.1/', 'http://localhost/healthz',
  `http://${FUZZ_HOST}:8080?q`, `http://${FUZZ_HOST}\\@bob.localhost/`, `http://${FUZZ_HOST}/\r\nHost: bob.localhost`, `http://a]/`,
];
const METHODS = ['GET', 'get', 'Get', 'CONNECT', 'connect', 'Connect', 'FOO', 'M-SEARCH', 'PRI', 'DESCRIBE', 'SOURCE', 'PURGE', 'G\xc9T', 'GET ', ' GET'];
const VERSIONS = ['HTTP/1.0', 'HTTP/1.1', 'HTTP/1.2', 'HTTP/2.0', 'HTTP/0.9', 'http/1.1', 'HTTP/1.1 ', 'HTTP/1.10', 'HTTP/1'];
const UPGRADE_LINES = [
  'Upgrade: websocket', 'Upgrade:', 'Upgrade: \t', 'upgrade: h2c', 'Upgrade : websocket', 'Upgradex: websocket',
  'Connection: upgrade', 'Connection: Upgrade', 'Connection: keep-alive, Upgrade', 'Connection: keep-alive,upgrade ', 'Connection: upgrade\t',
  'Connection: xupgrade', 'Connection: upgrade x', 'Connection: upgrade ,close', 'Connection: \tupgrade', 'Connection: upgradeupgrade',
  'Connection: close, upgrade', 'Connection: ,upgrade,', 'Proxy-Connection: upgrade', 'Connection: up grade', 'Connection:upgrade',
];
const HOST_BYTES = ['\0', '\t', ' ', '\x0b', '\x0c', '\x7f', '\x80', '\xa0', '\xff', '\r', '\n', '\r\n', '\r\n ', ':', '@', '[', ']', '/', '#', '%', '.', ',', '_', '\\'];

interface FrontDoorCase {
  input: Buffer;
  chunks: Buffer[];
  mutations: string[];
}

function generateCase(random: SeededRandom): FrontDoorCase {
  const base = generateRequestStream(random);
  const mutations = [...base.mutations];
  let text = base.input.toString('latin1');
  if (random.chance(0.6)) {
    for (let n = random.int(1, 3); n > 0; n--) text = mutateHead(random, text, mutations);
  }
  if (random.chance(0.03)) text = padNearLimit(random, text, mutations);
  const input = Buffer.from(text, 'latin1');
  return { input, chunks: split(random, input), mutations };
}

/** One change to the first head (the text up to its first blank line): where the front door reads. */
function mutateHead(random: SeededRandom, text: string, log: string[]): string {
  const blank = text.indexOf('\r\n\r\n');
  const head = blank === -1 ? text : text.slice(0, blank);
  const rest = blank === -1 ? '' : text.slice(blank);
  const lines = head.split('\r\n');
  const hostAt = lines.findIndex((line, i) => i > 0 && /^host:/i.test(line));
  const at = random.int(1, lines.length);
  const requestLine = /^(\S*) (\S*) (\S*)$/.exec(lines[0]!);
  switch (random.int(0, 9)) {
    case 0: {
      const value = random.pick(HOST_VALUES);
      if (hostAt === -1) lines.splice(1, 0, `Host: ${value}`);
      else lines[hostAt] = `Host: ${value}`;
      log.push(`host=${JSON.stringify(value)}`);
      break;
    }
    case 1: {
      const name = random.pick(HOST_NAMES);
      const line = `${name}:${random.pick(['', ' ', '\t'])}${random.pick(HOST_VALUES.slice(0, 8))}`;
      if (hostAt === -1) lines.splice(at, 0, line);
      else lines[hostAt] = line;
      log.push(`host-line=${JSON.stringify(line)}`);
      break;
    }
    case 2: {
      const line = `${random.pick(['Host', 'host', 'HOST'])}: ${random.pick(HOST_VALUES.slice(0, 12))}`;
      lines.splice(at, 0, line);
      log.push(`another-host@${at}=${JSON.stringify(line)}`);
      break;
    }
    case 3:
      if (hostAt === -1) return text;
      lines.splice(hostAt, 1);
      log.push('no-host');
      break;
    case 4: {
      if (!requestLine) return text;
      const target = random.pick(TARGETS);
      lines[0] = `${requestLine[1]} ${target} ${requestLine[3]}`;
      log.push(`target=${JSON.stringify(target)}`);
      break;
    }
    case 5: {
      if (!requestLine) return text;
      const method = random.pick(METHODS);
      lines[0] = `${method} ${requestLine[2]} ${requestLine[3]}`;
      log.push(`method=${JSON.stringify(method)}`);
      break;
    }
    case 6: {
      if (!requestLine) return text;
      const version = random.pick(VERSIONS);
      lines[0] = `${requestLine[1]} ${requestLine[2]} ${version}`;
      log.push(`version=${JSON.stringify(version)}`);
      break;
    }
    case 7: {
      const line = random.pick(UPGRADE_LINES);
      lines.splice(at, 0, line);
      log.push(`upgrade-line@${at}=${JSON.stringify(line)}`);
      break;
    }
    case 8: {
      // A byte inside the Host value (or the target when there is no Host).
      const index = hostAt === -1 ? 0 : hostAt;
      const line = lines[index]!;
      const from = index === 0 ? line.indexOf(' ') + 1 : line.indexOf(':') + 1;
      const where = random.int(from, line.length);
      const byte = random.pick(HOST_BYTES);
      lines[index] = line.slice(0, where) + byte + line.slice(where);
      log.push(`host-byte@${index}:${where}=${JSON.stringify(byte)}`);
      break;
    }
    default: {
      const prefix = random.pick(['\r\n', '\n', ' ', '\t', '\r\n\r\n']);
      log.push(`before-request-line=${JSON.stringify(prefix)}`);
      return prefix + text;
    }
  }
  return lines.join('\r\n') + rest;
}

/** Pads the first head so that it ends a few bytes before, at or after MAX_REQUEST_HEAD_BYTES. */
function padNearLimit(random: SeededRandom, text: string, log: string[]): string {
  const blank = text.indexOf('\r\n\r\n');
  const lineEnd = text.indexOf('\r\n');
  if (blank === -1 || lineEnd === blank) return text;
  const wanted = MAX_REQUEST_HEAD_BYTES + random.int(-4, 4);
  const filler = wanted - (blank + 4) - 'X-Pad: \r\n'.length;
  if (filler < 0) return text;
  log.push(`head-ends-at=${wanted}`);
  return `${text.slice(0, lineEnd + 2)}X-Pad: ${'p'.repeat(filler)}\r\n${text.slice(lineEnd + 2)}`;
}

/** Cuts `input` where a network could: anywhere, often around the head's blank line, sometimes byte by byte. */
function split(random: SeededRandom, input: Buffer): Buffer[] {
  if (input.length <= 1) return [input];
  if (input.length < 4096 && random.chance(0.05)) return [...input].map((byte) => Buffer.from([byte]));
  const cuts = new Set<number>();
  for (let n = random.int(0, 6); n > 0; n--) cuts.add(random.int(1, input.length - 1));
  const blank = input.indexOf('\r\n\r\n');
  if (blank !== -1 && random.chance(0.5)) cuts.add(blank + random.int(1, 3));
  const points = [0, ...[...cuts].filter((cut) => cut > 0 && cut < input.length).sort((a, b) => a - b), input.length];
  const chunks: Buffer[] = [];
  for (let i = 1; i < points.length; i++) chunks.push(input.subarray(points[i - 1], points[i]));
  return chunks;
}

// ---------------------------------------------------------------------------------------------
// The reference: llhttp's reading of the same bytes, and RFC 3986 on what it read.

type LlhttpHead = NonNullable<LlhttpMessage['head']>;

/** llhttp errors that are about the method alone: refused by llhttp-based origins as they would be without us. */
function isMethodError(code: string, reason: string): boolean {
  return code === 'HPE_INVALID_METHOD' || /method|Connection Preface/i.test(reason);
}

/**
 * llhttp's first head of `input`, checked to end exactly at `end`; a method llhttp does not serve
 * (the tolerated difference: it decides nothing about framing or host) is read as GET.
 */
function llhttpHeadEndingAt(input: Buffer, end: number, method: string): LlhttpHead | string {
  let bytes = input.subarray(0, end);
  let stop = end;
  let parsed = parseWithLlhttp(bytes, true);
  if (parsed.end.kind === 'error' && isMethodError(parsed.end.code, parsed.end.reason) && method !== 'CONNECT') {
    bytes = Buffer.concat([Buffer.from('GET'), bytes.subarray(method.length)]);
    stop = bytes.length;
    parsed = parseWithLlhttp(bytes, true);
  }
  if (parsed.end.kind === 'error') return `llhttp refuses the head the front door routed: ${parsed.end.code} (${parsed.end.reason})`;
  const head = parsed.messages[0]?.head;
  if (!head) return 'llhttp has not read a whole head where the front door ended it';
  if (parseWithLlhttp(bytes.subarray(0, stop - 1), true).messages[0]?.head) return 'llhttp ended the head before the front door did';
  return head;
}

/** RFC 3986 uri-host [":" port], read on its own terms: lowercase, one trailing dot dropped; 'invalid' otherwise. */
function referenceAuthority(text: string): string | 'invalid' {
  const parts = /^(?:\[([^\]]*)\]|([^:[\]@]*))(?::(\d*))?$/.exec(text);
  if (!parts) return 'invalid';
  if (parts[1] !== undefined) return isIPv6(parts[1]) && !parts[1].includes('%') ? parts[1].toLowerCase() : 'invalid';
  const name = parts[2]!;
  if (!/^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+$/.test(name)) return 'invalid';
  return name.toLowerCase().replace(/\.$/, '');
}

/** The host an llhttp-based server must take from this head (RFC 9112 §3.2), or why there is none. */
function referenceHost(head: LlhttpHead): { host: string | null } | { invalid: string } {
  const hosts = head.headers.filter(([name]) => name.toLowerCase() === 'host').map(([, value]) => value);
  if (hosts.length > 1) return { invalid: 'two Host headers' };
  const header = hosts[0];
  if (header !== undefined && header !== '' && referenceAuthority(header) === 'invalid') return { invalid: 'a malformed Host' };
  if (head.method !== 'CONNECT') {
    const absolute = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)/.exec(head.url);
    if (absolute) {
      if (!/^https?$/i.test(absolute[1]!)) return { invalid: 'not an http(s) URL' };
      const host = referenceAuthority(absolute[2]!);
      return host === 'invalid' || host === '' ? { invalid: 'a malformed URL host' } : { host };
    }
  }
  if (header === undefined || header === '') return { host: null };
  return { host: referenceAuthority(header) };
}

/** The origin-form path llhttp's target stands for, as a redirect must carry it. */
function referencePath(url: string): string {
  const absolute = /^[A-Za-z]+:\/\/[^/?#]*/.exec(url);
  if (!absolute) return url;
  const rest = url.slice(absolute[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

// ---------------------------------------------------------------------------------------------

interface Tally {
  cases: number;
  mutated: number;
  routed: number;
  toNames: number;
  redirects: number;
  waiting: number;
  refused: Map<string, number>;
  /** Refused although llhttp read a head with a usable host (stricter than llhttp), by reason. */
  stricter: Map<string, number>;
  failed: number;
  failures: string[];
}

function count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function disagreements(fuzzCase: FrontDoorCase, verdict: Verdict, tally: Tally): string[] {
  const problems: string[] = [];
  const whole = frontDoor([fuzzCase.input]);
  if (JSON.stringify(whole) !== JSON.stringify(verdict)) problems.push(`the verdict depends on the cuts: ${JSON.stringify(whole)} in one chunk`);
  if (JSON.stringify(readFirstHead(fuzzCase.input)) !== JSON.stringify(whole)) problems.push('readFirstHead and FirstHeadReader disagree');

  if (verdict === null) {
    tally.waiting++;
    // Still waiting for a blank line: when it comes, the same rules hold. Where llhttp read a
    // head without one (HTTP/0.9 style request lines, bare LFs), the front door must refuse then.
    const blank = Buffer.from('\r\n\r\n');
    const later = { input: Buffer.concat([fuzzCase.input, blank]), chunks: [...fuzzCase.chunks, blank], mutations: [...fuzzCase.mutations, 'blank-line'] };
    const laterVerdict = frontDoor(later.chunks);
    if (parseWithLlhttp(fuzzCase.input, true).messages[0]?.head && (laterVerdict === null || !isRefusal(laterVerdict))) {
      problems.push(`llhttp read a whole head where the front door still waits, and a blank line makes it ${JSON.stringify(laterVerdict)}`);
    }
    if (laterVerdict !== null) problems.push(...disagreements(later, laterVerdict, tally).map((problem) => `with a blank line appended: ${problem}`));
    return problems;
  }
  if (isRefusal(verdict)) {
    count(tally.refused, `${verdict.status} ${verdict.reason}`);
    if (verdict.status === 400) {
      const end = fuzzCase.input.indexOf('\r\n\r\n') + 4;
      const reference = llhttpHeadEndingAt(fuzzCase.input, end, fuzzCase.input.toString('latin1', 0, Math.max(0, fuzzCase.input.indexOf(' '))));
      if (typeof reference !== 'string' && 'host' in referenceHost(reference)) {
        count(tally.stricter, verdict.reason);
        if (fuzzCase.mutations.length === 0) problems.push(`a well-formed stream was refused: ${verdict.reason}`);
      }
    }
    return problems;
  }

  tally.routed++;
  const reference = llhttpHeadEndingAt(fuzzCase.input, verdict.end, verdict.method);
  if (typeof reference === 'string') return [...problems, reference];
  if (reference.url !== verdict.target) problems.push(`llhttp reads the target ${JSON.stringify(reference.url)}, the front door ${JSON.stringify(verdict.target)}`);
  const wanted = referenceHost(reference);
  if ('invalid' in wanted) problems.push(`routed by host ${JSON.stringify(verdict.host)} where llhttp's head has ${wanted.invalid}`);
  else if (wanted.host !== verdict.host) problems.push(`routed by host ${JSON.stringify(verdict.host)}, llhttp's head is for ${JSON.stringify(wanted.host)}`);
  // The edge's app reads llhttp's url and first Host with the same effectiveHost.
  const firstHost = reference.headers.find(([name]) => name.toLowerCase() === 'host')?.[1];
  if (effectiveHost(reference.url, firstHost) !== verdict.host) problems.push(`the edge's app would see host ${JSON.stringify(effectiveHost(reference.url, firstHost))}, not ${JSON.stringify(verdict.host)}`);
  if (reference.upgrade !== verdict.upgrade) problems.push(`llhttp reads upgrade=${reference.upgrade}, the front door ${verdict.upgrade}`);
  if (classifyHost(verdict.host, DOMAIN).kind === 'name') tally.toNames++;

  const location = httpsLocation(verdict, HTTPS_PORT);
  if (location !== null) {
    tally.redirects++;
    if (!/^[\x21-\x7e]+$/.test(location)) problems.push(`the 308 Location ${JSON.stringify(location)} holds a control, space or high byte`);
    if (!('host' in wanted) || wanted.host === null || reference.url === '*' || reference.method === 'CONNECT') {
      problems.push(`a 308 to ${JSON.stringify(location)} for a head llhttp reads no redirectable target in`);
    } else {
      const expected = `https://${wanted.host.includes(':') ? `[${wanted.host}]` : wanted.host}:${HTTPS_PORT}${referencePath(reference.url)}`;
      if (location !== expected) problems.push(`the 308 Location is ${JSON.stringify(location)}, llhttp's head makes it ${JSON.stringify(expected)}`);
    }
  }
  return problems;
}

function runCase(fuzzCase: FrontDoorCase, tally: Tally): void {
  const verdict = frontDoor(fuzzCase.chunks);
  const problems = disagreements(fuzzCase, verdict, tally);
  tally.cases++;
  if (fuzzCase.mutations.length > 0) tally.mutated++;
  if (problems.length === 0) return;
  tally.failed++;
  if (tally.failures.length < 5) {
    tally.failures.push([
      `input ${JSON.stringify(fuzzCase.input.toString('latin1').slice(0, 600))}`,
      `chunks ${JSON.stringify(fuzzCase.chunks.map((c) => c.length))} mutations ${JSON.stringify(fuzzCase.mutations)}`,
      `front door: ${JSON.stringify(verdict)}`,
      ...problems.map((p) => `  - ${p}`),
    ].join('\n'));
  }
}

const top = (map: Map<string, number>): string => [...map].sort((a, b) => b[1] - a[1]).map(([reason, n]) => `${n}× ${reason}`).join('; ') || 'none';

test(`the front door reads the first head of ${CASES} random and mutated streams as llhttp does, or refuses (seed printed)`, () => {
  console.log(`front-door head fuzz: ${CASES} cases, seed ${random.seed} (replay: UDNS_FUZZ_SEED=${random.seed})`);
  const tally: Tally = { cases: 0, mutated: 0, routed: 0, toNames: 0, redirects: 0, waiting: 0, refused: new Map(), stricter: new Map(), failed: 0, failures: [] };
  for (let i = 0; i < CASES; i++) runCase(generateCase(random), tally);
  const refusedTotal = [...tally.refused.values()].reduce((a, b) => a + b, 0);
  console.log(`  ${tally.cases} cases (${tally.mutated} mutated): ${tally.routed} routed (${tally.toNames} to a member name, ${tally.redirects} would be 308s), ${refusedTotal} refused, ${tally.waiting} still waiting (each read again with a blank line appended, counted above too)`);
  console.log(`  refused: ${top(tally.refused)}`);
  console.log(`  refused where llhttp read a head with a usable host: ${top(tally.stricter)}`);
  expect(tally.failed, `${tally.failed} disagreements, seed ${random.seed}, the first ones:\n${tally.failures.join('\n\n')}`).toBe(0);
  // The campaign must reach every outcome, or it proves little.
  expect(tally.toNames).toBeGreaterThan(CASES / 10);
  expect(tally.redirects).toBeGreaterThan(CASES / 10);
  expect(refusedTotal).toBeGreaterThan(CASES / 10);
  expect(tally.refused.get(`431 ${(readFirstHead(Buffer.alloc(MAX_REQUEST_HEAD_BYTES + 1)) as HeadRefusal).reason}`) ?? 0).toBeGreaterThan(0);
});

test('cross-check: a real node:http server on port 0 reads the routed heads\' host and upgrade as the front door did', async () => {
  const seen: Array<{ host: string | null; upgrade: boolean }> = [];
  const server = http.createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
    seen.push({ host: effectiveHost(req.url ?? '', req.headers.host), upgrade: false });
    res.end();
  });
  const switched = (req: http.IncomingMessage, socket: Duplex): void => {
    seen.push({ host: effectiveHost(req.url ?? '', req.headers.host), upgrade: true });
    socket.destroy();
  };
  server.on('upgrade', switched);
  server.on('connect', switched);
  // An Expect other than 100-continue is node:http's 417, answered before any handler.
  server.on('checkExpectation', (req, res) => {
    seen.push({ host: effectiveHost(req.url ?? '', req.headers.host), upgrade: false });
    res.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const local = new SeededRandom(random.seed);
  let compared = 0;
  try {
    for (let i = 0; i < 4 * CROSS_CHECKS && compared < CROSS_CHECKS; i++) {
      const fuzzCase = generateCase(local);
      const verdict = frontDoor([fuzzCase.input]);
      if (verdict === null || isRefusal(verdict)) continue;
      const llhttp = parseWithLlhttp(fuzzCase.input, true);
      // Methods llhttp does not serve never reach a handler; an upgrade is announced only once
      // its request (body included) is complete.
      if (!llhttp.messages[0]?.head) continue;
      if (verdict.upgrade && !llhttp.messages[0]?.complete) continue;
      seen.length = 0;
      const socket = net.connect(port, '127.0.0.1');
      socket.on('data', () => undefined);
      socket.on('error', () => undefined);
      socket.end(fuzzCase.input);
      await once(socket, 'close');
      expect(seen[0], `seed ${random.seed}, case ${i}: ${JSON.stringify(fuzzCase.input.toString('latin1').slice(0, 300))}`).toEqual({ host: verdict.host, upgrade: verdict.upgrade });
      compared++;
    }
  } finally {
    server.close();
  }
  console.log(`  cross-check: ${compared} routed heads read the same by http.Server`);
  expect(compared).toBe(CROSS_CHECKS);
});
