import http from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../logger.js';
import { startMetricsListener } from './metrics-endpoint.js';

describe('startMetricsListener', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('an error on the listener after it listens (accept EMFILE under many connections) is logged, not thrown', async () => {
    let server: http.Server | null = null;
    const create = http.createServer.bind(http);
    vi.spyOn(http, 'createServer').mockImplementation(((...args: Parameters<typeof http.createServer>) => {
      server = create(...args);
      return server;
    }) as typeof http.createServer);
    const listener = await startMetricsListener('127.0.0.1:0', { text: async () => '', contentType: 'text/plain' }, createLogger('silent'));
    try {
      expect(server).not.toBeNull();
      // Node emits a listening server's accept failures as 'error': with no listener, the process ends.
      expect(() => server!.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }))).not.toThrow();
    } finally {
      await listener.close();
    }
  });
});
