import net from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { eventually } from '../../test/helpers/eventually.js';
import { Inspector } from './inspector.js';

describe('the inspector\'s live events', () => {
  let inspector: Inspector | undefined;
  afterEach(() => inspector?.close());

  test('a viewer that stops reading is cut off instead of piling events up in the agent', async () => {
    // Every request recorded, however fast (the default records 200 a second): each is an event.
    inspector = new Inspector({ port: 0, nextFreePort: false, limits: { recordPerSecond: 1e9 } });
    const port = Number(new URL(await inspector.start()).port);
    const viewer = net.connect(port, '127.0.0.1');
    viewer.on('error', () => {});
    const closed = new Promise<void>((resolve) => viewer.once('close', () => resolve()));
    viewer.write(`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    await new Promise<void>((resolve) => viewer.once('data', () => resolve()));
    viewer.pause();
    // A busy route: every request is an event of a few hundred bytes with a long path.
    const tap = inspector.tap({ route: 'alice.localhost', origin: { host: '127.0.0.1', port: 9 }, remoteAddress: '198.51.100.7' });
    let sent = 0;
    await eventually('the stalled viewer to be disconnected', async () => {
      for (let i = 0; i < 2000; i++, sent++) {
        const path = `/item/${sent}/${'x'.repeat(1000)}`;
        tap.requestHead(Buffer.from(`GET ${path} HTTP/1.1\r\nHost: alice.localhost\r\n\r\n`), 'GET', path);
        tap.requestEnd();
        tap.responseBytes(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n'));
      }
      return viewer.destroyed || (await Promise.race([closed.then(() => true), new Promise((resolve) => setTimeout(() => resolve(undefined), 50))])) ? true : undefined;
    }, { timeoutMs: 30_000 });
  });
});
