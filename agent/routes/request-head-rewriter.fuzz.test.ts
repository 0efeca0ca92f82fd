import http from 'node:http';
import net, { isIP } from 'node:net';
import { once } from 'node:events';
import { expect, test } from 'vitest';
import type { VisitorInfo } from '../../protocol/index.js';
import { parseWithLlhttp, type LlhttpMessage, type LlhttpStream } from '../../test/helpers/llhttp-messages.js';
import { FUZZ_HOST, generateRequestStream, type RequestStreamCase } from '../../test/helpers/request-stream-generator.js';
import { SeededRandom } from '../../test/helpers/seeded-random.js';
import { isForwardingHeader } from './forwarding-headers.js';
import { RequestHeadRewriter, type RequestRejection } from './request-head-rewriter.js';

/*
 * Differential fuzzing of RequestHeadRewriter against llhttp, the parser of every node:http
 * server. Each case is a random, often mutated, visitor stream cut into random chunks. llhttp
 * frames the stream as it arrives from the visitor (the reference) and as the rewriter hands it
 * to the origin; the two must be the same requests (method, target, headers but the forwarding
 * ones, body, trailers, where each ends), and wherever llhttp refuses or frames differently the
 * rewriter must have refused first. `npm test` runs 3,000 cases with a fixed seed;
 * `npm run test:chaos` 200,000 with a fresh one (UDNS_FUZZ_CASES, UDNS_FUZZ_SEED to replay).
 */

const CASES = Number(process.env.UDNS_FUZZ_CASES ?? 3000);
// `npm test` replays the same cases every run; a long campaign draws a fresh seed unless given one.
const random = SeededRandom.fromEnv(process.env.UDNS_FUZZ_SEED ?? (process.env.UDNS_FUZZ_CASES ? undefined : '20261126'));

/** Headers a spoofer would try, read independently of the rewriter's own list. */
const SPOOF_NAME = /^(x[-_]forwarded([-_].*)?|forwarded|x[-_]real[-_]ip|x[-_]client[-_]ip|true[-_]client[-_]ip|cf[-_]connecting[-_]ip)$/i;
const OURS = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip', 'forwarded'];

interface RewriterRun {
  out: Buffer;
  rejected: RequestRejection | null;
}

async function runRewriter(visitor: VisitorInfo, chunks: Buffer[], originStatus: number): Promise<RewriterRun> {
  const rewriter = new RequestHeadRewriter(visitor, FUZZ_HOST);
  // The origin's answer to the first request is known from the start: the same as it arriving
  // before the visitor's next bytes.
  rewriter.originResponded(Buffer.from(`HTTP/1.1 ${originStatus} X\r\n`, 'latin1'));
  let rejected: RequestRejection | null = null;
  rewriter.on('rejected', (refusal: RequestRejection) => { rejected = refusal; });
  const out: Buffer[] = [];
  rewriter.on('data', (chunk: Buffer) => out.push(chunk));
  const ended = new Promise((resolve) => rewriter.on('end', resolve));
  for (const chunk of chunks) rewriter.write(chunk);
  rewriter.end();
  await ended;
  return { out: Buffer.concat(out), rejected };
}

function randomVisitor(): VisitorInfo {
  return {
    routeId: 'r',
    remoteAddress: random.pick(['198.51.100.7', '::ffff:198.51.100.7', '2001:db8::7']),
    remotePort: 40000,
    scheme: random.pick(['http', 'https'] as const),
    host: `${FUZZ_HOST}:8080`,
    ...(random.chance(0.2) ? { forwardedTrusted: true } : {}),
  };
}

/** A message as the origin should see it whatever forwarding or upgrade headers came with it. */
function comparable(message: LlhttpMessage, index: number): unknown {
  const headers = message.head === null ? null : normaliseHeaders(message.head.headers, index);
  return {
    head: message.head && { ...message.head, headers, upgrade: index === 0 ? message.head.upgrade : false },
    body: message.body.toString('latin1'),
    trailers: normaliseHeaders(message.trailers, index),
    complete: message.complete,
  };
}

function normaliseHeaders(headers: Array<[string, string]>, index: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (isForwardingHeader(name) || (index > 0 && lower === 'upgrade')) continue;
    if (lower === 'connection' || lower === 'proxy-connection') {
      const tokens = value.split(',').map((token) => token.replace(/^[ \t]+|[ \t]+$/g, ''))
        .filter((token) => token.length > 0 && !isForwardingHeader(token) && !(index > 0 && token.toLowerCase() === 'upgrade'));
      if (tokens.length > 0) out.push([lower, tokens.join(', ')]);
      continue;
    }
    out.push([lower, value]);
  }
  return out;
}

/** The forwarding headers the origin must get for `message`, worked out here independently. */
function expectedForwarding(visitor: VisitorInfo, message: LlhttpMessage): Record<string, string> {
  const values = (name: string): string[] => message.head!.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
  const lastEntry = (name: string): string => values(name).join(',').split(',').at(-1)!.trim();
  const plain = (address: string): string => address.replace(/^::ffff:(?=\d+\.)/, '').toLowerCase();
  let client = isIP(plain(visitor.remoteAddress)) ? plain(visitor.remoteAddress) : 'unknown';
  let proto = visitor.scheme === 'https' ? 'https' : 'http';
  if (visitor.forwardedTrusted) {
    if (isIP(plain(lastEntry('x-forwarded-for'))) !== 0) client = plain(lastEntry('x-forwarded-for'));
    if (/^https?$/i.test(lastEntry('x-forwarded-proto'))) proto = lastEntry('x-forwarded-proto').toLowerCase();
  }
  const host = values('host')[0] ?? visitor.host;
  const explicit = /^(?:\[[^\]]*\]|[^:]*):(\d{1,5})$/.exec(host)?.[1];
  const port = explicit !== undefined && Number(explicit) <= 65535 ? explicit : proto === 'https' ? '443' : '80';
  const node = isIP(client) === 6 ? `"[${client}]"` : client;
  return {
    'x-forwarded-for': client,
    'x-forwarded-proto': proto,
    'x-forwarded-host': host,
    'x-forwarded-port': String(Number(port)),
    'x-real-ip': client,
    forwarded: `for=${node};proto=${proto};host=${/^[\w.!#$%&'*+^`|~-]+$/.test(host) ? host : `"${host}"`}`,
  };
}

/** Every way the rewriter's output disagrees with llhttp's reading of the visitor's bytes. */
function disagreements(visitor: VisitorInfo, reference: LlhttpStream, forwarded: LlhttpStream, run: RewriterRun, held: RewriterRun | null): string[] {
  const problems: string[] = [];
  const refused = run.rejected !== null;
  const { messages: sent, end } = forwarded;
  const given = reference.messages;

  for (let i = 0; i < sent.length; i++) {
    const out = sent[i]!;
    const original = given[i];
    if (!original) {
      problems.push(`the origin gets request #${i}, which llhttp never saw in the visitor's bytes`);
      continue;
    }
    const cutShort = refused && i === sent.length - 1 && !out.complete;
    const a = comparable(out, i) as { head: unknown; body: string };
    const b = comparable(original, i) as { head: unknown; body: string };
    if (cutShort) {
      // The refusal stopped this request mid-body: what went out must be how it began.
      if (JSON.stringify(a.head) !== JSON.stringify(b.head) || !b.body.startsWith(a.body)) problems.push(`request #${i} cut short differs from the visitor's: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    } else if (JSON.stringify(a) !== JSON.stringify(b)) {
      problems.push(`request #${i} framed differently: origin gets ${JSON.stringify(a)}, visitor sent ${JSON.stringify(b)}`);
    }
    if (out.head && original.head) {
      const wanted = expectedForwarding(visitor, original);
      const spoofs = out.head.headers.filter(([name]) => SPOOF_NAME.test(name) || OURS.includes(name.toLowerCase()));
      const got = Object.fromEntries(spoofs.map(([name, value]) => [name.toLowerCase(), value]));
      if (spoofs.length !== OURS.length || JSON.stringify(got) !== JSON.stringify(wanted)) {
        problems.push(`request #${i} forwarding headers ${JSON.stringify(spoofs)}, want ${JSON.stringify(wanted)}`);
      }
    }
    if (out.trailers.some(([name]) => SPOOF_NAME.test(name))) problems.push(`request #${i} has a forwarding header as a trailer`);
  }

  const unknownMethod = (stream: LlhttpStream): boolean => stream.end.kind === 'error' && stream.end.code === 'HPE_INVALID_METHOD';
  if (end.kind === 'error') {
    // The one tolerated difference: a token llhttp does not know as a method, refused by the
    // origin exactly as it would be without us.
    if (!(unknownMethod(forwarded) && unknownMethod(reference) && sent.length === given.length)) {
      problems.push(`llhttp refuses what the rewriter forwarded: ${end.code} (${end.reason})`);
    }
  } else if (end.kind === 'upgrade') {
    if (reference.end.kind !== 'upgrade' || !reference.end.rest.equals(end.rest)) problems.push('the bytes after the upgrade differ');
  }
  if (!refused) {
    if (reference.end.kind === 'upgrade' && end.kind !== 'upgrade') problems.push('llhttp switched protocols, the rewriter did not');
    if (reference.end.kind === 'error' && !unknownMethod(reference) && end.kind !== 'error' && !held?.rejected) {
      problems.push(`llhttp refuses the visitor's bytes (${reference.end.code}: ${reference.end.reason}) and the rewriter did not, even once they were complete`);
    }
    const missing = given.length - sent.length;
    if (missing > 1 || (missing === 1 && given.at(-1)!.head !== null)) problems.push(`the rewriter forwarded ${sent.length} of ${given.length} requests without refusing`);
  }
  return problems;
}

interface Tally {
  cases: number;
  mutated: number;
  requestsForwarded: number;
  refused: number;
  failed: number;
  stricterThanLlhttp: Map<string, number>;
  failures: string[];
}

async function runCase(fuzzCase: RequestStreamCase, tally: Tally): Promise<void> {
  const visitor = randomVisitor();
  const switchOnUpgrade = random.chance(0.7);
  const reference = parseWithLlhttp(fuzzCase.input, switchOnUpgrade);
  const first = reference.messages[0]?.head;
  const connect = first?.method === 'CONNECT';
  const switches = switchOnUpgrade && first?.upgrade === true;
  const status = switches ? (connect ? 200 : 101) : (connect ? 405 : 200);
  const run = await runRewriter(visitor, fuzzCase.chunks, status);
  const forwarded = parseWithLlhttp(run.out, switchOnUpgrade);
  // Where llhttp refused bytes the rewriter still holds (a chunk-size line or head not yet
  // ended), the rewriter must refuse them once their line ends.
  const held = reference.end.kind === 'error' && !run.rejected ? await runRewriter(visitor, [Buffer.concat([fuzzCase.input, Buffer.from('\r\n\r\n')])], status) : null;
  const problems = disagreements(visitor, reference, forwarded, run, held);
  // However the network cuts the bytes, the rewriter must do the same.
  const whole = await runRewriter(visitor, [fuzzCase.input], status);
  if (!whole.out.equals(run.out) || JSON.stringify(whole.rejected) !== JSON.stringify(run.rejected)) problems.push('the output depends on where the input was split');

  tally.cases++;
  if (fuzzCase.mutations.length > 0) tally.mutated++;
  tally.requestsForwarded += forwarded.messages.filter((m) => m.complete).length;
  if (run.rejected) {
    tally.refused++;
    if (reference.end.kind !== 'error') {
      const key = `${run.rejected.status} ${run.rejected.reason}`;
      tally.stricterThanLlhttp.set(key, (tally.stricterThanLlhttp.get(key) ?? 0) + 1);
      // A stream nothing was done to must go through, unless it ends the connection and goes on.
      if (fuzzCase.mutations.length === 0 && run.rejected.status !== 421) problems.push('a well-formed stream was refused');
    }
  }
  if (problems.length > 0) tally.failed++;
  if (problems.length > 0 && tally.failures.length < 5) {
    tally.failures.push([
      `input ${JSON.stringify(fuzzCase.input.toString('latin1'))}`,
      `chunks ${JSON.stringify(fuzzCase.chunks.map((c) => c.length))} mutations ${JSON.stringify(fuzzCase.mutations)}`,
      `visitor ${JSON.stringify(visitor)} origin answers ${status}`,
      `rewriter ${run.rejected ? `refused ${run.rejected.status} ${run.rejected.reason}` : 'accepted'}, output ${JSON.stringify(run.out.toString('latin1'))}`,
      ...problems.map((p) => `  - ${p}`),
    ].join('\n'));
  }
}

test(`the rewriter frames ${CASES} random and mutated request streams as llhttp does, or refuses (seed printed)`, async () => {
  console.log(`request-head-rewriter fuzz: ${CASES} cases, seed ${random.seed} (replay: UDNS_FUZZ_SEED=${random.seed})`);
  const tally: Tally = { cases: 0, mutated: 0, requestsForwarded: 0, refused: 0, failed: 0, stricterThanLlhttp: new Map(), failures: [] };
  for (let i = 0; i < CASES; i++) await runCase(generateRequestStream(random), tally);
  const stricter = [...tally.stricterThanLlhttp].sort((a, b) => b[1] - a[1]).map(([reason, n]) => `${n}× ${reason}`);
  console.log(`  ${tally.cases} cases (${tally.mutated} mutated), ${tally.requestsForwarded} requests forwarded, ${tally.refused} refused; refused where llhttp accepted: ${stricter.join('; ') || 'none'}`);
  expect(tally.failed, `${tally.failed} disagreements, seed ${random.seed}, the first ones:\n${tally.failures.join('\n\n')}`).toBe(0);
});

/** What a real node:http server made of one request, in the reference's terms. */
function served(req: http.IncomingMessage, body: Buffer): unknown {
  const pairs = (flat: string[]): Array<[string, string]> => flat.flatMap((value, i) => (i % 2 === 0 ? [[value, flat[i + 1]!] as [string, string]] : []));
  return { method: req.method, url: req.url, version: req.httpVersion, headers: pairs(req.rawHeaders), body: body.toString('latin1'), trailers: pairs(req.rawTrailers) };
}

test('cross-check: a real node:http server on port 0 reads the rewriter\'s output as the llhttp reference does', async () => {
  const seen: unknown[] = [];
  const server = http.createServer({ maxHeaderSize: 1 << 20 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.push(served(req, Buffer.concat(chunks)));
      res.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const local = new SeededRandom(random.seed);
  let compared = 0;
  try {
    for (let i = 0; i < 200; i++) {
      const fuzzCase = generateRequestStream(local);
      const run = await runRewriter(randomVisitor(), fuzzCase.chunks, 200);
      const reference = parseWithLlhttp(run.out, false);
      // Upgrades and CONNECT leave HTTP, and an unfinished request never reaches the handler.
      if (reference.end.kind !== 'clean' || reference.messages.some((m) => m.head?.upgrade || !m.complete)) continue;
      seen.length = 0;
      const socket = net.connect(port, '127.0.0.1');
      socket.on('data', () => undefined);
      socket.end(run.out);
      await once(socket, 'close');
      const expected = reference.messages.map((m) => ({ method: m.head!.method, url: m.head!.url, version: m.head!.version, headers: m.head!.headers, body: m.body.toString('latin1'), trailers: m.trailers }));
      expect(seen, `seed ${random.seed}, case ${i}: ${JSON.stringify(run.out.toString('latin1'))}`).toEqual(expected);
      compared++;
    }
  } finally {
    server.close();
  }
  console.log(`  cross-check: ${compared} rewritten streams read the same by http.Server and by the reference`);
  expect(compared).toBeGreaterThan(50);
});
