import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { closedPort, type Origin } from '../helpers/origins.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { hostFor, rawExchange } from '../helpers/visitor.js';

/** What the origin's own node:http server parsed from one request. */
interface Seen {
  rawHeaders: string[];
  rawTrailers: string[];
}

/** An origin that answers every request with its raw header and trailer lists, as JSON. */
async function startRecordingOrigin(): Promise<Origin> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(JSON.stringify({ rawHeaders: req.rawHeaders, rawTrailers: req.rawTrailers } satisfies Seen)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The origin's view from a raw answer (one request, `Connection: close`). */
function seenIn(answer: string): Seen {
  expect(answer).toMatch(/^HTTP\/1\.1 200 /);
  return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Seen;
}

/** Header name (lower case) → every value, in order. */
function byName(pairs: string[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const name = pairs[i]!.toLowerCase();
    map.set(name, [...(map.get(name) ?? []), pairs[i + 1]!]);
  }
  return map;
}

const SPOOFED = [
  'X-Forwarded-For: 6.6.6.6',
  'X-Forwarded-For: 7.7.7.7',
  'X_Forwarded_For: 6.6.6.6',
  'x-forwarded_for: 6.6.6.6',
  'X-Forwarded-Proto: https',
  'X-Forwarded-Host: evil.example',
  'X-Forwarded-Port: 6666',
  'X-Forwarded-Prefix: /6.6.6.6',
  'Forwarded: for=6.6.6.6;proto=https;host=evil.example',
  'X-Real-IP: 6.6.6.6',
  'X_Real_IP: 6.6.6.6',
  'True-Client-IP: 6.6.6.6',
  'CF-Connecting-IP: 6.6.6.6',
  'X-Client-IP: 6.6.6.6',
  'Connection: close, X-Forwarded-For, X-Real-IP',
].join('\r\n');

/** Names the origin may see that could carry a client address or scheme. */
const FORWARDING_NAME = /^(x[-_]forwarded([-_].*)?|forwarded|x[-_]real[-_]ip|true[-_]client[-_]ip|cf[-_]connecting[-_]ip|x[-_]client[-_]ip)$/i;

describe('what an origin behind udns can trust', () => {
  let edge: TestEdge;
  let origin: Origin;
  let agent: Agent;
  let directPort: number;

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startRecordingOrigin();
    directPort = await closedPort();
    agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'trusty', directPort }]);
  });
  afterAll(async () => {
    agent?.stop();
    await origin?.close();
    await edge?.close();
  });

  test('regression: a visitor\'s forwarding headers (any spelling) never reach the origin, which gets exactly one of each of ours', async () => {
    const host = hostFor(edge, 'trusty');
    const seen = seenIn(await rawExchange(edge, `GET /who HTTP/1.1\r\nHost: ${host}\r\n${SPOOFED}\r\n\r\n`));
    const headers = byName(seen.rawHeaders);
    const forwarding = seen.rawHeaders.filter((name, i) => i % 2 === 0 && FORWARDING_NAME.test(name)).map((name) => name.toLowerCase());
    expect(forwarding.sort()).toEqual(['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-proto', 'x-real-ip']);
    expect(headers.get('x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(headers.get('x-real-ip')).toEqual(['127.0.0.1']);
    expect(headers.get('x-forwarded-proto')).toEqual(['http']);
    expect(headers.get('x-forwarded-host')).toEqual([host]);
    expect(headers.get('x-forwarded-port')).toEqual([String(edge.edge.httpPort)]);
    expect(headers.get('forwarded')).toEqual([`for=127.0.0.1;proto=http;host="${host}"`]);
    // The Connection header could have asked a proxy at the origin to drop ours.
    expect(headers.get('connection')).toEqual(['close']);
    expect(JSON.stringify(seen)).not.toMatch(/6\.6\.6\.6|7\.7\.7\.7|evil|6666|https/);
  });

  test('regression: an X-Forwarded-For sent as a chunked trailer does not reach the origin; other trailers do', async () => {
    const seen = seenIn(await rawExchange(edge, [
      `POST /upload HTTP/1.1\r\nHost: ${hostFor(edge, 'trusty')}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`,
      '5\r\nhello\r\n0\r\nX-Forwarded-For: 6.6.6.6\r\nX_Real_IP: 6.6.6.6\r\nX-Checksum: 42\r\n\r\n',
    ].join('')));
    expect(seen.rawTrailers).toEqual(['X-Checksum', '42']);
    expect(byName(seen.rawHeaders).get('x-forwarded-for')).toEqual(['127.0.0.1']);
  });

  test('regression: direct-mode visitors (on the agent\'s own port) get the same treatment', async () => {
    const socket = net.connect(directPort, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => { answer += chunk; });
    const closed = once(socket, 'close');
    socket.write(`GET /who HTTP/1.1\r\nHost: trusty.localhost:${directPort}\r\n${SPOOFED}\r\n\r\n`);
    await closed;
    const headers = byName(seenIn(answer).rawHeaders);
    expect(headers.get('x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(headers.get('x-real-ip')).toEqual(['127.0.0.1']);
    expect(headers.get('forwarded')).toEqual([`for=127.0.0.1;proto=http;host="trusty.localhost:${directPort}"`]);
    expect(answer).not.toMatch(/6\.6\.6\.6|evil/);
  });

  test('behind --trusted-proxy the origin gets the client the proxy appended last, and its scheme; others are still replaced', async () => {
    const proxied = await startTestEdge({ trustedProxy: ['127.0.0.1/32'] });
    const proxiedAgent = await startTestAgent(proxied, [{ kind: 'http', localPort: origin.port, name: 'proxied' }]);
    try {
      const host = hostFor(proxied, 'proxied');
      const request = `GET / HTTP/1.1\r\nHost: ${host}\r\nX-Forwarded-For: 6.6.6.6, 203.0.113.5\r\nX-Forwarded-Proto: https\r\nX-Real-IP: 6.6.6.6\r\nConnection: close\r\n\r\n`;
      const headers = byName(seenIn(await rawExchange(proxied, request)).rawHeaders);
      expect(headers.get('x-forwarded-for')).toEqual(['203.0.113.5']);
      expect(headers.get('x-real-ip')).toEqual(['203.0.113.5']);
      expect(headers.get('x-forwarded-proto')).toEqual(['https']);
      expect(headers.get('forwarded')).toEqual([`for=203.0.113.5;proto=https;host="${host}"`]);
      // 127.0.0.2 is not the trusted proxy: its claims are replaced as anyone's.
      const socket = net.connect({ port: proxied.edge.httpPort, host: '127.0.0.1', localAddress: '127.0.0.2' });
      let answer = '';
      socket.on('data', (chunk) => { answer += chunk; });
      const closed = once(socket, 'close');
      socket.write(request);
      await closed;
      expect(byName(seenIn(answer).rawHeaders).get('x-forwarded-for')).toEqual(['127.0.0.2']);
      // The edge's own API counts and reports the client the proxy names, not the proxy.
      const address = await rawExchange(proxied, `GET /api/v1/address HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${proxied.adminToken}\r\n` +
        'X-Forwarded-For: 6.6.6.6, 198.51.100.23\r\nConnection: close\r\n\r\n');
      expect(address).toContain('"address":"198.51.100.23"');
    } finally {
      proxiedAgent.stop();
      await proxied.close();
    }
  });
});
