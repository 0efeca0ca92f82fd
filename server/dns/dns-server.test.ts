import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isUdnsError } from '../../protocol/errors.js';
import { startDnsServer, type DnsServerHandle } from './dns-server.js';
import type { ZoneView } from './zone.js';

const run = promisify(execFile);
const logger = pino({ level: 'silent' });

type Tool = 'dig' | 'kdig';
type Transport = 'udp' | 'tcp';

interface ResourceLine {
  name: string;
  ttl: number;
  type: string;
  data: string;
}

interface Reply {
  status: string;
  flags: string[];
  answer: ResourceLine[];
  authority: ResourceLine[];
  additional: ResourceLine[];
  /** UDP size in the response's OPT record, when there is one. */
  ednsUdpSize: number | undefined;
  raw: string;
}

function section(output: string, title: string): ResourceLine[] {
  const start = output.indexOf(`;; ${title} SECTION:`);
  if (start === -1) return [];
  const lines = output.slice(start).split('\n').slice(1);
  const end = lines.findIndex((line) => line.trim() === '' || line.startsWith(';'));
  return lines.slice(0, end === -1 ? undefined : end).map((line) => {
    const [name = '', ttl = '', , type = '', ...data] = line.trim().split(/\s+/);
    return { name, ttl: Number(ttl), type, data: data.join(' ') };
  });
}

/** Runs dig or kdig against a server; both print the same section layout. */
async function query(server: DnsServerHandle, tool: Tool, transport: Transport, args: string[]): Promise<Reply> {
  const port = transport === 'udp' ? server.udpPort : server.tcpPort;
  const limits = tool === 'dig' ? ['+time=2', '+tries=1'] : ['+timeout=2', '+retry=0'];
  const argv = ['@127.0.0.1', '-p', String(port), ...limits, ...(transport === 'tcp' ? ['+tcp'] : []), ...args];
  let raw: string;
  try {
    raw = (await run(tool, argv, { timeout: 5000 })).stdout;
  } catch (error) {
    throw new Error(`${tool} ${argv.join(' ')} failed: ${String(error)}`);
  }
  const status = /status: (\w+)/.exec(raw)?.[1];
  if (status === undefined) throw new Error(`no reply from ${tool} ${argv.join(' ')}:\n${raw}`);
  return {
    status,
    flags: (/flags: ([^;]*);/i.exec(raw)?.[1] ?? '').trim().split(/\s+/),
    answer: section(raw, 'ANSWER'),
    authority: section(raw, 'AUTHORITY'),
    additional: section(raw, 'ADDITIONAL'),
    ednsUdpSize: Number(/udp(?: size)?: (\d+)/i.exec(raw)?.[1] ?? NaN) || undefined,
    raw,
  };
}

let serial = 2026112501;
const claimed = new Set(['alice', 'bob-2']);
const zone6: ZoneView = {
  domain: 'udns.test',
  publicIp: '203.0.113.7',
  publicIp6: '2001:db8::7',
  isClaimed: (label) => claimed.has(label),
  serial: () => serial,
};
const zone4: ZoneView = { domain: 'v4.test', publicIp: '198.51.100.4', isClaimed: (label) => label === 'carol', serial: () => 1 };

let server6: DnsServerHandle;
let server4: DnsServerHandle;
beforeAll(async () => {
  server6 = await startDnsServer({ zone: zone6, port: 0, bind: '127.0.0.1', logger });
  server4 = await startDnsServer({ zone: zone4, port: 0, bind: '127.0.0.1', logger });
});
afterAll(async () => {
  await server6?.close();
  await server4?.close();
});

const soaData = (s: number) => `ns1.udns.test. hostmaster.udns.test. ${s} 3600 600 1209600 60`;

describe.each([
  ['dig', 'udp'],
  ['dig', 'tcp'],
  ['kdig', 'udp'],
  ['kdig', 'tcp'],
] as Array<[Tool, Transport]>)('%s over %s', (tool, transport) => {
  const ask = (...args: string[]) => query(server6, tool, transport, args);

  test('apex SOA, NS with glue, A and AAAA', async () => {
    const [soa, ns, a, aaaa] = await Promise.all([ask('udns.test', 'SOA'), ask('udns.test', 'NS'), ask('udns.test', 'A'), ask('udns.test', 'AAAA')]);
    expect(soa.status).toBe('NOERROR');
    expect(soa.flags).toContain('aa');
    expect(soa.answer).toEqual([{ name: 'udns.test.', ttl: 300, type: 'SOA', data: soaData(serial) }]);
    expect(ns.answer.map((r) => r.data)).toEqual(['ns1.udns.test.', 'ns2.udns.test.']);
    expect(ns.additional.map((r) => `${r.name} ${r.type} ${r.data}`)).toEqual([
      'ns1.udns.test. A 203.0.113.7',
      'ns1.udns.test. AAAA 2001:db8::7',
      'ns2.udns.test. A 203.0.113.7',
      'ns2.udns.test. AAAA 2001:db8::7',
    ]);
    expect(a.answer).toEqual([{ name: 'udns.test.', ttl: 300, type: 'A', data: '203.0.113.7' }]);
    expect(aaaa.answer).toEqual([{ name: 'udns.test.', ttl: 300, type: 'AAAA', data: '2001:db8::7' }]);
  });

  test('ns1 and a claimed name resolve; the claim has TTL 60', async () => {
    const [ns1, alice, alice6] = await Promise.all([ask('ns1.udns.test', 'A'), ask('alice.udns.test', 'A'), ask('alice.udns.test', 'AAAA')]);
    expect(ns1.answer).toMatchObject([{ type: 'A', data: '203.0.113.7' }]);
    expect(alice.flags).toContain('aa');
    expect(alice.answer).toEqual([{ name: 'alice.udns.test.', ttl: 60, type: 'A', data: '203.0.113.7' }]);
    expect(alice6.answer).toEqual([{ name: 'alice.udns.test.', ttl: 60, type: 'AAAA', data: '2001:db8::7' }]);
  });

  test('a mixed-case name matches and is echoed as asked', async () => {
    const reply = await ask('BoB-2.UdNs.TeSt', 'A');
    expect(reply.status).toBe('NOERROR');
    // kdig lowercases the name it sends, so only dig shows the echo.
    const echoed = tool === 'dig' ? 'BoB-2.UdNs.TeSt.' : 'bob-2.udns.test.';
    expect(reply.answer).toEqual([{ name: echoed, ttl: 60, type: 'A', data: '203.0.113.7' }]);
  });

  test('unclaimed and deeper names are NXDOMAIN with the SOA in authority', async () => {
    for (const reply of await Promise.all([ask('nobody.udns.test', 'A'), ask('x.alice.udns.test', 'A')])) {
      expect(reply.status).toBe('NXDOMAIN');
      expect(reply.flags).toContain('aa');
      expect(reply.answer).toEqual([]);
      expect(reply.authority).toEqual([{ name: 'udns.test.', ttl: 60, type: 'SOA', data: soaData(serial) }]);
    }
  });

  test('a type the name lacks is NODATA with the SOA in authority', async () => {
    for (const reply of await Promise.all([ask('alice.udns.test', 'MX'), ask('alice.udns.test', 'TXT')])) {
      expect(reply.status).toBe('NOERROR');
      expect(reply.answer).toEqual([]);
      expect(reply.authority).toMatchObject([{ name: 'udns.test.', type: 'SOA' }]);
    }
  });

  test('names outside the zone are REFUSED', async () => {
    for (const reply of await Promise.all([ask('example.com', 'A'), ask('notudns.test', 'A')])) {
      expect(reply.status).toBe('REFUSED');
      expect(reply.flags).not.toContain('aa');
    }
  });

  test('without publicIp6, AAAA is NODATA and A still answers', async () => {
    const [aaaa, a] = await Promise.all([
      query(server4, tool, transport, ['carol.v4.test', 'AAAA']),
      query(server4, tool, transport, ['carol.v4.test', 'A']),
    ]);
    expect(aaaa.status).toBe('NOERROR');
    expect(aaaa.answer).toEqual([]);
    expect(aaaa.authority).toMatchObject([{ name: 'v4.test.', type: 'SOA' }]);
    expect(a.answer).toMatchObject([{ ttl: 60, data: '198.51.100.4' }]);
  });
});

describe('EDNS and odd requests (dig)', () => {
  const ask = (...args: string[]) => query(server6, 'dig', 'udp', args);

  test('an EDNS query gets an OPT advertising 1232; a plain one gets none', async () => {
    const [edns, plain] = await Promise.all([ask('+bufsize=4096', 'alice.udns.test'), ask('+noedns', 'alice.udns.test')]);
    expect(edns.ednsUdpSize).toBe(1232);
    expect(plain.ednsUdpSize).toBeUndefined();
    expect(plain.answer).toHaveLength(1);
  });

  test('EDNS version 1 is BADVERS, a query without question FORMERR, NOTIFY NOTIMP', async () => {
    const [badvers, formerr, notimp] = await Promise.all([
      ask('+edns=1', '+noednsnegotiation', 'alice.udns.test'),
      ask('+header-only', 'alice.udns.test'),
      ask('+opcode=4', 'alice.udns.test'),
    ]);
    expect(badvers.status).toBe('BADVERS');
    expect(formerr.status).toBe('FORMERR');
    expect(notimp.status).toBe('NOTIMP');
  });

  test('a new serial shows up in the next answer', async () => {
    const before = serial;
    serial += 1;
    const reply = await ask('udns.test', 'SOA');
    expect(reply.answer[0]?.data).toBe(soaData(before + 1));
  });

  test('a zone that throws gets SERVFAIL and the server keeps answering', async () => {
    const broken: ZoneView = { ...zone4, isClaimed: () => { throw new Error('cache gone'); } };
    const server = await startDnsServer({ zone: broken, port: 0, bind: '127.0.0.1', logger });
    try {
      expect((await query(server, 'dig', 'udp', ['carol.v4.test'])).status).toBe('SERVFAIL');
      expect((await query(server, 'dig', 'tcp', ['carol.v4.test'])).status).toBe('SERVFAIL');
      expect((await query(server, 'dig', 'udp', ['v4.test'])).answer).toHaveLength(1);
    } finally {
      await server.close();
    }
  });
});

describe('lifecycle', () => {
  test('port 0 gives UDP and TCP their own ports; close is idempotent and frees both', async () => {
    const server = await startDnsServer({ zone: zone4, port: 0, bind: '127.0.0.1', logger });
    expect(server.udpPort).toBeGreaterThan(0);
    expect(server.tcpPort).toBeGreaterThan(0);
    await Promise.all([server.close(), server.close()]);
    await server.close();
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(server.udpPort, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => udp.close(resolve));
    const tcp = net.createServer();
    await new Promise<void>((resolve) => tcp.listen(server.tcpPort, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  });

  test('close does not wait for idle TCP clients (dns2 keeps them 10 s)', async () => {
    const server = await startDnsServer({ zone: zone4, port: 0, bind: '127.0.0.1', logger });
    const client = net.connect(server.tcpPort, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    const clientClosed = new Promise((resolve) => client.once('close', resolve));
    client.on('error', () => {});
    const started = Date.now();
    await server.close();
    await clientClosed;
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test('a fixed port serves both transports', async () => {
    // Borrow a free UDP port, release it, then ask for it explicitly.
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
    const port = probe.address().port;
    await new Promise<void>((resolve) => probe.close(resolve));
    const server = await startDnsServer({ zone: zone4, port, bind: '127.0.0.1', logger });
    try {
      expect([server.udpPort, server.tcpPort]).toEqual([port, port]);
      expect((await query(server, 'dig', 'tcp', ['v4.test'])).answer).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  test('a port in use is port_unavailable, and nothing stays bound', async () => {
    const taken = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => taken.bind(0, '127.0.0.1', resolve));
    const port = taken.address().port;
    try {
      const error = await startDnsServer({ zone: zone4, port, bind: '127.0.0.1', logger }).catch((e: unknown) => e);
      expect(isUdnsError(error, 'port_unavailable')).toBe(true);
      expect(String(error)).toContain(String(port));
    } finally {
      await new Promise<void>((resolve) => taken.close(resolve));
    }
    const server = await startDnsServer({ zone: zone4, port, bind: '127.0.0.1', logger });
    await server.close();
  });

  test('an IPv6 bind address serves both transports', async () => {
    const server = await startDnsServer({ zone: zone4, port: 0, bind: '::1', logger });
    try {
      for (const [port, transport] of [[server.udpPort, '+notcp'], [server.tcpPort, '+tcp']] as const) {
        const { stdout } = await run('dig', ['@::1', '-p', String(port), transport, '+time=2', '+tries=1', '+short', 'carol.v4.test']);
        expect(stdout.trim()).toBe('198.51.100.4');
      }
    } finally {
      await server.close();
    }
  });

  test('bad options are config_invalid, naming every problem', async () => {
    const zone = { domain: 'Bad_Domain.', publicIp: '2001:db8::1', isClaimed: () => false, serial: () => 1 };
    const error = await startDnsServer({ zone, port: 70000, bind: 'localhost', logger }).catch((e: unknown) => e);
    expect(isUdnsError(error, 'config_invalid')).toBe(true);
    for (const field of ['port', 'bind', 'zone.domain', 'zone.publicIp']) expect(String(error)).toContain(field);
  });
});
