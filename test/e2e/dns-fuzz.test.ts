import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { promisify } from 'node:util';
import dns2 from 'dns2';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DnsFuzzer, MUTATIONS, frame, responseProblem, tcpPlan, unframe, validQuery, type Mutation } from '../helpers/dns-fuzz.js';
import { startEdgeProcess, type EdgeProcess } from '../helpers/edge-process.js';
import { eventually } from '../helpers/eventually.js';

/*
 * DNS fuzz against the edge as a real process (issue 8): malformed and mutated packets over UDP
 * and TCP, then correct answers from dig and kdig, the process alive, its memory and open files
 * back where they were. UDNS_FUZZ_PACKETS sets how many packets per transport (a few thousand
 * by default; `npm run test:chaos` sends 100,000), UDNS_FUZZ_SEED replays a run.
 */

const { Packet } = dns2;
const run = promisify(execFile);

const PACKETS = Number(process.env.UDNS_FUZZ_PACKETS ?? 2000);
const SEED = Number(process.env.UDNS_FUZZ_SEED ?? 20261202);
const DOMAIN = 'localhost';
const PUBLIC_IP = '127.0.0.1';
/** Fuzz packets sent over UDP between two canary queries (which must each be answered). */
const UDP_BATCH = 200;
/** Concurrent TCP sessions (the edge takes 32 at once from one network). */
const TCP_PARALLEL = 12;
/** How much the edge's resident memory may grow over the whole run. */
const RSS_GROWTH_LIMIT_MB = 150;
/** Per-test budget: a fixed part plus a generous per-packet part for 2 shared cores. */
const BUDGET_MS = 60_000 + PACKETS;

let edge: EdgeProcess;
let pid: number;
const fuzz = new DnsFuzzer(SEED, DOMAIN);

const rssMb = (): number => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const openFiles = (): number => fs.readdirSync(`/proc/${pid}/fd`).length;
let baseline: { rss: number; files: number };
let peakRss = 0;
const sampleRss = (): void => { peakRss = Math.max(peakRss, rssMb()); };

beforeAll(async () => {
  edge = await startEdgeProcess();
  pid = edge.cli.child.pid!;
  expect(await api('POST', '/names', { name: 'alice' })).toBe(201);
  // ~4.4 kB of TXT, so that mutated queries reach truncation at every advertised size, and a CNAME.
  const txt = Array.from({ length: 40 }, (_, i) => `${i}`.padStart(100, 'x'));
  expect(await api('PUT', '/names/big.alice/records/TXT', { values: txt })).toBe(200);
  expect(await api('POST', '/names/www.alice/records', { type: 'CNAME', value: 'alice.localhost' })).toBe(201);
  // Warm up (JIT, first allocations) before taking the baseline.
  await digAnswer('dig', 'udp', 'alice.localhost', 'A');
  await digAnswer('kdig', 'tcp', 'big.alice.localhost', 'TXT');
  baseline = { rss: rssMb(), files: openFiles() };
  peakRss = baseline.rss;
}, 60_000);
afterAll(() => edge?.stop());

/** Calls the edge's API as its admin; returns the status. */
async function api(method: string, path: string, body: unknown): Promise<number> {
  const response = await fetch(`${edge.serverUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${edge.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await response.arrayBuffer();
  return response.status;
}

/** dig or kdig's answer lines (`name ttl class type data`), after checking the status is NOERROR. */
async function digAnswer(tool: 'dig' | 'kdig', transport: 'udp' | 'tcp', name: string, type: string): Promise<string[]> {
  const limits = tool === 'dig' ? ['+time=3', '+tries=1'] : ['+timeout=3', '+retry=0'];
  const argv = ['@127.0.0.1', '-p', String(dnsPort(transport)), ...limits, ...(transport === 'tcp' ? ['+tcp'] : []), '+noall', '+answer', tool === 'dig' ? '+comments' : '+header', name, type];
  const { stdout } = await run(tool, argv, { timeout: 10_000 });
  expect(/status: (\w+)/.exec(stdout)?.[1], stdout).toBe('NOERROR');
  return stdout.split('\n').filter((line) => line.trim() !== '' && !line.startsWith(';')).map((line) => line.trim().split(/\s+/).join(' '));
}

/** The edge's DNS port for `transport`, from its banner (`dns 127.0.0.1 port 40001 udp, 40002 tcp`). */
function dnsPort(transport: 'udp' | 'tcp'): number {
  const ports = / dns +127\.0\.0\.1 port (\d+) udp, (\d+) tcp/.exec(edge.cli.stdout());
  if (ports === null) throw new Error(`no DNS ports in the edge's banner:\n${edge.cli.stdout()}`);
  return Number(transport === 'udp' ? ports[1] : ports[2]);
}

/** A canary: `ALICE.localhost A`, whose answer (by id and name) proves the server got this far. */
const CANARY_NAME = `ALICE.${DOMAIN}`;
const canary = (id: number): Buffer => validQuery(id, CANARY_NAME);
function canaryProblem(message: Buffer): string | null {
  const answer = Packet.parse(message);
  if (answer.header.rcode !== Packet.RCODE.NOERROR || answer.header.aa !== 1) return `canary answered rcode ${answer.header.rcode} aa ${answer.header.aa}`;
  const addresses = answer.answers.map((record) => `${record.name} ${record.type} ${record.address}`);
  if (addresses.join() !== `${CANARY_NAME} ${Packet.TYPE.A} ${PUBLIC_IP}`) return `canary answered ${addresses.join()}`;
  return null;
}
const isCanary = (message: Buffer): boolean => {
  try {
    return Packet.parse(message).questions[0]?.name === CANARY_NAME;
  } catch {
    return false;
  }
};

/** Where the edge's stderr stood before a phase: its warnings and errors since then must be none. */
const problemsLoggedSince = (offset: number): string[] =>
  edge.cli.stderr().slice(offset).split('\n').filter((line) => /"level":(4|5|6)0/.test(line));

describe(`DNS fuzz against the edge process: ${PACKETS} packets per transport (seed ${SEED})`, () => {
  test('UDP: every mutation answered cleanly or dropped, never a crash or a stall', async () => {
    const logOffset = edge.cli.stderr().length;
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const problems: string[] = [];
    const rcodes = new Map<number, number>();
    const sent = new Map<Mutation, number>(MUTATIONS.map((mutation) => [mutation, 0]));
    let responses = 0;
    let waiting: { id: number; resolve: () => void } | null = null;
    socket.on('message', (message: Buffer) => {
      responses++;
      const problem = responseProblem(message, DOMAIN, 1232);
      if (problem !== null) {
        if (problems.length < 20) problems.push(`${problem}: ${message.toString('hex')}`);
        return;
      }
      const parsed = Packet.parse(message);
      rcodes.set(parsed.header.rcode, (rcodes.get(parsed.header.rcode) ?? 0) + 1);
      if (waiting !== null && parsed.header.id === waiting.id && isCanary(message)) {
        const canaryIssue = canaryProblem(message);
        if (canaryIssue !== null) problems.push(canaryIssue);
        waiting.resolve();
      }
    });

    const port = dnsPort('udp');
    let canaryId = 0;
    /** Sends a canary and waits for its answer: proof the batch before it was handled. */
    const checkpoint = async (afterPackets: number): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        const id = canaryId++ & 0xffff;
        const answered = new Promise<boolean>((resolve) => {
          waiting = { id, resolve: () => resolve(true) };
          setTimeout(() => resolve(false), 2000);
        });
        socket.send(canary(id), port, '127.0.0.1');
        if (await answered) break;
        // A datagram may be lost under load; a server that stays silent three times is wedged.
        if (attempt === 3) throw new Error(`no answer to a valid query after ${afterPackets} fuzz packets: the server is wedged`);
      }
      waiting = null;
    };

    const started = performance.now();
    for (let count = 0; count < PACKETS;) {
      const batch = Math.min(UDP_BATCH, PACKETS - count);
      for (let i = 0; i < batch; i++) {
        const { mutation, packet } = fuzz.next();
        sent.set(mutation, sent.get(mutation)! + 1);
        socket.send(packet, port, '127.0.0.1');
      }
      count += batch;
      await checkpoint(count);
      sampleRss();
    }
    const seconds = (performance.now() - started) / 1000;
    socket.close();

    console.log(`UDP: ${PACKETS} fuzz packets in ${seconds.toFixed(1)} s (${Math.round(PACKETS / seconds)} packets/s), ` +
      `${responses} responses, rcodes ${JSON.stringify(Object.fromEntries(rcodes))}, mutations ${JSON.stringify(Object.fromEntries(sent))}`);
    expect(problems).toEqual([]);
    // The mix reached every kind of answer, not just one error path.
    const { FORMERR, NOTIMP, NOERROR, NXDOMAIN, REFUSED } = Packet.RCODE;
    expect([...rcodes.keys()]).toEqual(expect.arrayContaining([FORMERR, NOTIMP, NOERROR, NXDOMAIN, REFUSED]));
    expect(problemsLoggedSince(logOffset)).toEqual([]);
    expect(edge.alive()).toBe(true);
  }, BUDGET_MS);

  test('TCP: pipelined, split, broken framing and random streams; every intact query answered once', async () => {
    const logOffset = edge.cli.stderr().length;
    const port = dnsPort('tcp');
    const problems: string[] = [];
    const kinds = new Map<string, number>();
    let canaryId = 0x8000;
    let messages = 0;
    let sessions = 0;
    let answers = 0;

    const runSession = async (): Promise<void> => {
      const plan = tcpPlan(fuzz, 1 + fuzz.int(40), canary, () => canaryId++ & 0xffff);
      messages += plan.messages;
      sessions++;
      kinds.set(plan.kind, (kinds.get(plan.kind) ?? 0) + 1);
      const received = await tcpExchange(port, plan.chunks, plan.end);
      if (received === 'stalled') {
        problems.push(`a ${plan.kind} session got no close from the server: wedged`);
        return;
      }
      const replies = unframe(received);
      answers += replies.length;
      for (const reply of replies) {
        const problem = responseProblem(reply, DOMAIN, 65_535) ?? (isCanary(reply) ? canaryProblem(reply) : null);
        if (problem !== null && problems.length < 20) problems.push(`${plan.kind}: ${problem}`);
      }
      if (plan.expectIds !== null && plan.end === 'end') {
        const got = replies.map((reply) => reply.readUInt16BE(0)).sort((a, b) => a - b);
        const want = [...plan.expectIds].sort((a, b) => a - b);
        if (got.join() !== want.join() && problems.length < 20) problems.push(`pipelined session answered ids ${got.join()} for ${want.join()}`);
      }
    };

    const started = performance.now();
    await Promise.all(Array.from({ length: TCP_PARALLEL }, async () => {
      while (messages < PACKETS) {
        await runSession();
        if (sessions % 50 === 0) sampleRss();
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    console.log(`TCP: ${messages} fuzz messages in ${sessions} sessions in ${seconds.toFixed(1)} s (${Math.round(messages / seconds)} messages/s), ` +
      `${answers} answers, sessions ${JSON.stringify(Object.fromEntries(kinds))}`);
    expect(problems).toEqual([]);
    expect(problemsLoggedSince(logOffset)).toEqual([]);
    expect(edge.alive()).toBe(true);
  }, BUDGET_MS);

  test('TCP clients that hold on: a connection flood is capped, clients that never read are dropped', async () => {
    const port = dnsPort('tcp');
    const filesBefore = openFiles();
    // 300 idle connections from one network: the edge keeps 32 (its per-network limit).
    const flood = await Promise.all(Array.from({ length: 300 }, () => openTcp(port, '127.0.0.1')));
    await eventually('the edge to close the connections over its limit', () => {
      const closed = flood.filter((client) => client.closed()).length;
      return closed === 300 - 32 ? true : undefined;
    });
    sampleRss();
    // Another network still gets answers while the flood holds its place.
    const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '-b', '127.0.5.1', '+tcp', '+time=3', '+tries=1', '+short', 'alice.localhost']);
    expect(stdout.trim()).toBe(PUBLIC_IP);
    for (const client of flood) client.socket.destroy();

    // Clients that pipeline queries for 4.4 kB answers and never read them: 10,000 each would
    // leave 44 MB each in the edge. The edge drops them, with their sockets, while they still hold on.
    const query = frame(validQuery(1, `big.alice.${DOMAIN}`, Packet.TYPE.TXT));
    const readers = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      const client = await openTcp(port, `127.0.${10 + i}.1`);
      client.socket.pause();
      await new Promise((written) => client.socket.write(Buffer.concat(Array.from({ length: 10_000 }, () => query)), written));
      return client;
    }));
    await eventually('the edge to drop the clients that do not read', () => {
      sampleRss();
      return openFiles() <= filesBefore + 2 ? true : undefined;
    }, { timeoutMs: 30_000 });
    for (const client of readers) client.socket.destroy();
    console.log(`edge RSS after the clients that hold on: ${rssMb().toFixed(0)} MB, at most ${peakRss.toFixed(0)} MB so far`);
    expect(peakRss - baseline.rss).toBeLessThan(RSS_GROWTH_LIMIT_MB);
    expect(edge.alive()).toBe(true);
  }, 60_000);

  test('afterwards dig and kdig get correct answers over both transports, and memory and files are back', async () => {
    for (const tool of ['dig', 'kdig'] as const) {
      for (const transport of ['udp', 'tcp'] as const) {
        expect(await digAnswer(tool, transport, 'alice.localhost', 'A')).toEqual([`alice.localhost. 60 IN A ${PUBLIC_IP}`]);
        expect(await digAnswer(tool, transport, 'www.alice.localhost', 'A')).toEqual([
          'www.alice.localhost. 60 IN CNAME alice.localhost.', `alice.localhost. 60 IN A ${PUBLIC_IP}`,
        ]);
      }
      // 4.4 kB: truncated over UDP, retried over TCP by the tool, all 40 strings.
      expect(await digAnswer(tool, 'tcp', 'big.alice.localhost', 'TXT')).toHaveLength(40);
    }
    // Every fuzz connection is gone (the server's idle limit is 10 s; clients closed theirs).
    await eventually('the edge to hold no more files than before the fuzzing', () => (openFiles() <= baseline.files + 2 ? true : undefined), { timeoutMs: 20_000 });
    sampleRss();
    console.log(`edge RSS: ${baseline.rss.toFixed(0)} MB before, ${peakRss.toFixed(0)} MB at most, ${rssMb().toFixed(0)} MB after; files ${baseline.files} before, ${openFiles()} after`);
    expect(peakRss - baseline.rss).toBeLessThan(RSS_GROWTH_LIMIT_MB);
    expect(edge.alive()).toBe(true);
  }, 60_000);
});

/**
 * Writes `chunks` on a new connection (each in its own turn of the event loop, so they leave as
 * separate segments), then half-closes or resets, and returns what came back once the server
 * closed; 'stalled' when it did not close within 20 s.
 */
function tcpExchange(port: number, chunks: Buffer[], end: 'end' | 'destroy'): Promise<Buffer | 'stalled'> {
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('stalled');
    }, 20_000);
    socket.on('data', (data: Buffer) => received.push(data));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(received));
    });
    socket.once('connect', async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) return;
        socket.write(chunk);
        await new Promise((next) => setImmediate(next));
      }
      if (end === 'end') socket.end();
      else setTimeout(() => socket.destroy(), 5);
    });
  });
}

/** An open connection; `closed()` turns true once either side closed it. */
async function openTcp(port: number, localAddress: string): Promise<{ socket: net.Socket; closed: () => boolean }> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  let closed = false;
  socket.on('error', () => {});
  socket.on('close', () => { closed = true; });
  // A connection the edge closes at once may close before or right after 'connect'.
  await new Promise((resolve) => { socket.once('connect', resolve); socket.once('close', resolve); });
  return { socket, closed: () => closed };
}
