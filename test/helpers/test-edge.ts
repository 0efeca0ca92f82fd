import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { openAccountStore } from '../../server/accounts/account-store.js';
import { parseEdgeConfig, type EdgeConfigInput } from '../../server/config.js';
import { startEdge, type EdgeHandle } from '../../server/edge.js';

/** A real edge on ephemeral ports with its own data dir, and what tests need to reach it. */
export interface TestEdge {
  edge: EdgeHandle;
  dataDir: string;
  /** `http://127.0.0.1:<port>`: what agents and API clients connect to. */
  serverUrl: string;
  adminToken: string;
  /** Everything the edge logged (JSON lines), for checks such as "no token in logs". */
  logs(): string;
  /** Creates another account on the edge's database and returns its token. */
  createAccount(name: string): Promise<string>;
  close(): Promise<void>;
}

/** Starts an edge in-process: HTTP and DNS on port 0, logs captured at debug level. `options`: what startEdge takes beside the logger. */
export async function startTestEdge(
  overrides: Partial<EdgeConfigInput> & { dataDir?: string } = {},
  options: Omit<NonNullable<Parameters<typeof startEdge>[1]>, 'logger'> = {},
): Promise<TestEdge> {
  const dataDir = overrides.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'udns-edge-'));
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done(); } });
  const logger = pino({ level: 'debug' }, sink);
  const config = parseEdgeConfig({
    httpPort: 0, dnsPort: 0, bind: '127.0.0.1', tcpPorts: '30000-30999', logLevel: 'debug',
    ...overrides, dataDir,
  });
  const edge = await startEdge(config, { ...options, logger });
  const serverUrl = `http://127.0.0.1:${edge.httpPort}`;
  const adminToken = edge.initialAdminToken ?? '';
  return {
    edge,
    dataDir,
    serverUrl,
    adminToken,
    logs: () => lines.join(''),
    async createAccount(name: string) {
      const store = await openAccountStore({ dataDir });
      try {
        return (await store.createAccount(name)).token;
      } finally {
        await store.close();
      }
    },
    close: () => edge.close(),
  };
}
