import http from 'node:http';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { patternBytes, patternSha256, startHttpOrigin } from '../helpers/origins.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { downloadSha256, hostFor } from '../helpers/visitor.js';

const MiB = 1024 * 1024;

describe('bulk transfers through the tunnel', () => {
  let edge: TestEdge;
  let origin: Awaited<ReturnType<typeof startHttpOrigin>>;
  let agent: Agent;

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startHttpOrigin();
    agent = await startTestAgent(edge, [{ kind: 'http', localPort: origin.port, name: 'bulk' }]);
  });
  afterAll(async () => {
    agent?.stop();
    await origin?.close();
    await edge?.close();
  });

  test('a 64 MiB download arrives whole (SHA-256 matches)', async () => {
    const result = await downloadSha256(edge, 'bulk', `/bytes/${64 * MiB}`);
    expect(result).toEqual({ status: 200, length: 64 * MiB, sha256: patternSha256(64 * MiB) });
  });

  test('a 64 MiB upload arrives whole (SHA-256 matches)', async () => {
    const expected = createHash('sha256');
    const answer = await new Promise<string>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1', port: edge.edge.httpPort, path: '/upload', method: 'POST', agent: false,
        headers: { host: hostFor(edge, 'bulk'), 'content-length': 64 * MiB },
      }, (res) => {
        let body = '';
        res.on('data', (chunk) => { body += chunk; });
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      let offset = 0;
      const pump = (): void => {
        while (offset < 64 * MiB) {
          const chunk = patternBytes(offset, MiB);
          offset += MiB;
          expected.update(chunk);
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    expect(JSON.parse(answer)).toEqual({ length: 64 * MiB, sha256: expected.digest('hex') });
  });

  test('a visitor that stops reading stalls the origin: memory along the path stays bounded', async () => {
    const before = origin.bytesWritten();
    const total = 512 * MiB;
    const req = http.get({ host: '127.0.0.1', port: edge.edge.httpPort, path: `/bytes/${total}`, agent: false, headers: { host: hostFor(edge, 'bulk') } });
    const res = await new Promise<http.IncomingMessage>((resolve) => req.once('response', resolve));
    res.pause();
    // Let every buffer on the way (sockets, stream windows, proxy) fill up.
    let previous = -1;
    for (let i = 0; i < 40; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const now = origin.bytesWritten() - before;
      if (now === previous) break;
      previous = now;
    }
    const buffered = origin.bytesWritten() - before;
    // Socket buffers + 1 MiB stream window + agent/edge queues: tens of MiB at most, not 512.
    expect(buffered).toBeLessThan(64 * MiB);
    req.destroy();
  });

  test('an origin that stops reading an upload stalls the visitor: memory along the path stays bounded', async () => {
    const total = 512 * MiB;
    const req = http.request({
      host: '127.0.0.1', port: edge.edge.httpPort, path: '/hang', method: 'POST', agent: false,
      headers: { host: hostFor(edge, 'bulk'), 'content-length': total },
    });
    req.on('error', () => {});
    const chunk = Buffer.alloc(MiB, 1);
    let accepted = 0;
    let blocked = false;
    const pump = (): void => {
      while (accepted < total) {
        accepted += chunk.length;
        if (!req.write(chunk)) {
          blocked = true;
          req.once('drain', () => { blocked = false; pump(); });
          return;
        }
      }
    };
    pump();
    // Wait until the visitor's writes stay blocked: every buffer on the way is full.
    let previous = -1;
    for (let i = 0; i < 40; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const sent = req.socket?.bytesWritten ?? 0;
      if (blocked && sent === previous) break;
      previous = sent;
    }
    expect(blocked).toBe(true);
    expect(req.socket!.bytesWritten).toBeLessThan(64 * MiB);
    req.destroy();
  });
});
