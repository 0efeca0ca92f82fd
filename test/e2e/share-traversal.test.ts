import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { SECRET_TEXT, makeShareFixture, snapshotTree, type ShareFixture } from '../helpers/share-fixtures.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { hostFor, rawExchange } from '../helpers/visitor.js';

/** Ways to write `..` that some server somewhere has decoded into a parent step. */
const DOT_DOTS = [
  '..', '%2e%2e', '%2E%2E', '.%2e', '%2e.', '%252e%252e', '%25252e%25252e', '%c0%ae%c0%ae', '%e0%80%ae%e0%80%ae',
  '%f0%80%80%ae%f0%80%80%ae', '%c0%2e%c0%2e', '..%00', '%2e%2e%00', '..%01', '%u002e%u002e', '..;', '...',
];
/** Ways to write a separator. */
const SEPARATORS = ['/', '%2f', '%2F', '%5c', '%5C', '\\', '%255c', '%252f', '%c0%af', '%e0%80%af', '%c1%9c'];
/** What the attempts aim at, from the share's root: the sibling folder's secret. */
const AIM = 'outside/secret.txt';

/** Every request target of the corpus (several hundred, all of which must be refused). */
function traversalTargets(outsideDir: string): string[] {
  const targets = new Set<string>();
  for (const dots of DOT_DOTS) {
    for (const separator of SEPARATORS) {
      targets.add(`/${dots}${separator}${AIM.replace('/', separator)}`);
      targets.add(`/hello.txt${separator}${dots}${separator}${dots}${separator}${AIM}`);
    }
    targets.add(`/${dots}/${dots}/${dots}/${dots}/etc/passwd`);
    targets.add(`/%ED%95%9C%EA%B8%80%20%ED%8F%B4%EB%8D%94/${dots}/${dots}/${AIM}`);
  }
  for (const absolute of [outsideDir, '/etc', `${outsideDir.replaceAll('/', '%2f')}`]) {
    targets.add(`/${absolute}/secret.txt`.replace('//', '//'));
    targets.add(`//${absolute.replace(/^\//, '')}/passwd`);
    targets.add(`/%2f${absolute.replace(/^\//, '').replaceAll('/', '%2f')}%2fsecret.txt`);
  }
  for (const extra of [
    '//etc/passwd', '///etc/passwd', '/./../outside/secret.txt', '/.%2e/outside/secret.txt', '/%2e/%2e%2e/outside/secret.txt',
    '/hello.txt%00.png', '/hello.txt%00/../../outside/secret.txt', '/escape/secret.txt', '/escape.txt', '/escape/../escape/secret.txt',
    '/.env', '/.git/config', '/%2eenv', '/%2egit/config', '/.git%2fconfig', '/a/../../outside/secret.txt', '/%ZZ/../x', '/%', '/%e',
    '/%ff%fe/../secret', '/C:%5cWindows%5cwin.ini', '/C:/Windows/win.ini', '/..%5c..%5coutside%5csecret.txt', '/\\..\\outside\\secret.txt',
  ]) targets.add(extra);
  return [...targets];
}

/** Sends one raw request and returns the status and body (the edge must not be confused by any of it). */
async function attempt(edge: TestEdge, name: string, method: string, target: string, body = ''): Promise<{ status: number; text: string }> {
  const head = `${method} ${target} HTTP/1.1\r\nHost: ${hostFor(edge, name)}\r\nConnection: close\r\nDestination: http://${hostFor(edge, name)}/../outside/copied.txt\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const text = await rawExchange(edge, head);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text };
}

/** Runs `work` over `items`, `width` at a time. */
async function inBatches<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(work));
}

describe('path traversal corpus against a share, through the real edge and agent', () => {
  let edge: TestEdge;
  let agent: Agent;
  let fixture: ShareFixture;
  let targets: string[];

  beforeAll(async () => {
    edge = await startTestEdge();
    fixture = makeShareFixture();
    targets = traversalTargets(fixture.outside);
    agent = await startTestAgent(edge, [
      { kind: 'share', dir: fixture.root, name: 'readonly' },
      { kind: 'share', dir: fixture.root, name: 'writable', allowUpload: true, webdav: true },
    ]);
  });
  afterAll(async () => {
    agent?.stop();
    await edge?.close();
    fixture?.cleanup();
  });

  test('the corpus is large', () => {
    expect(targets.length).toBeGreaterThanOrEqual(200);
  });

  test('every read attempt is refused and nothing outside is revealed', async () => {
    const leaks: string[] = [];
    await inBatches(targets, 16, async (target) => {
      for (const method of ['GET', 'HEAD']) {
        const { status, text } = await attempt(edge, 'readonly', method, target);
        if (![400, 404].includes(status) || text.includes(SECRET_TEXT.trim()) || text.includes('root:x:0') || text.includes('HIDDEN=1')) {
          leaks.push(`${method} ${target} -> ${status}`);
        }
      }
    });
    expect(leaks).toEqual([]);
  });

  test('every write attempt is refused, and nothing outside or inside the share changes', async () => {
    const outsideBefore = snapshotTree(path.dirname(fixture.root));
    const leaks: string[] = [];
    await inBatches(targets, 16, async (target) => {
      for (const method of ['PUT', 'POST', 'DELETE', 'MKCOL', 'COPY', 'MOVE', 'PROPPATCH', 'LOCK']) {
        const { status } = await attempt(edge, 'writable', method, target, 'overwritten by an attacker');
        if (status < 400 || status >= 500) leaks.push(`${method} ${target} -> ${status}`);
      }
    });
    expect(leaks).toEqual([]);
    expect(fs.readFileSync(path.join(fixture.outside, 'secret.txt'), 'utf8')).toBe(SECRET_TEXT);
    expect(snapshotTree(path.dirname(fixture.root))).toBe(outsideBefore);
  });
});
