import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

/** A successful run's stdout parsed as JSON, failing the test with its stderr otherwise. */
async function json(args: string[], env: NodeJS.ProcessEnv = {}): Promise<unknown> {
  const result = await runCli([...args, '--json'], env);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout);
}

/* Issue 9: `--json` on every command that lists or shows something, one object each. */
describe('--json on the listing commands', () => {
  let edge: TestEdge;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    edge = await startTestEdge();
    env = { UDNS_CONFIG: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'udns-cli-json-')), 'cli.json') };
    const login = await runCli(['login', await edge.createAccount('jay'), '--server', edge.serverUrl], env);
    expect(login.code).toBe(0);
    expect((await runCli(['name', 'claim', 'jaypc'], env)).code).toBe(0);
    expect((await runCli(['dns', 'add', 'www.jaypc', 'TXT', 'hi'], env)).code).toBe(0);
  });
  afterAll(async () => { await edge?.close(); });

  test('name ls and dns ls --json: the names with their records, and the records', async () => {
    const port = edge.edge.httpPort;
    expect(await json(['name', 'ls'], env)).toEqual({
      names: [expect.objectContaining({ name: 'jaypc', online: false, url: `http://jaypc.localhost:${port}`, records: [expect.objectContaining({ type: 'TXT' })] })],
    });
    expect(await json(['dns', 'ls', 'jaypc'], env)).toEqual({ records: [expect.objectContaining({ type: 'TXT', ttl: 60 })] });
    expect(await json(['dns', 'ls'], env)).toEqual({ records: [expect.objectContaining({ type: 'TXT' })] });
  });

  test('account list and account tokens --json: ISO dates, no secret or hash', async () => {
    const { accounts } = await json(['account', 'list', '--data-dir', edge.dataDir]) as { accounts: Array<{ name: string; createdAt: string }> };
    expect(accounts.map((account) => account.name)).toContain('jay');
    expect(accounts[0]!.createdAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const { tokens } = await json(['account', 'tokens', 'jay', '--data-dir', edge.dataDir]) as { tokens: Array<Record<string, unknown>> };
    expect(tokens).toHaveLength(1);
    expect(Object.keys(tokens[0]!).sort()).toEqual(['createdAt', 'id', 'label', 'lastUsedAt', 'prefix', 'revokedAt']);
    expect(tokens[0]!.revokedAt).toBeNull();
  });

  test('status --json still answers through the same helper', async () => {
    expect(await json(['status'], env)).toEqual(expect.objectContaining({ server: edge.serverUrl }));
  });
});
