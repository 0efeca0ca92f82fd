import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { dig } from '../helpers/edge-client.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { expectCleanFailure, runCli, spawnCli } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

/** A successful run's stdout, failing the test with its stderr otherwise. */
async function ok(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const result = await runCli(args, env);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result.stdout;
}

describe('udns name and udns dns', () => {
  let edge: TestEdge;
  let origin: Origin;
  let env: NodeJS.ProcessEnv;
  let bobEnv: NodeJS.ProcessEnv;

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startHttpOrigin();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-cli-names-'));
    env = { UDNS_CONFIG: path.join(dir, 'alice.json') };
    bobEnv = { UDNS_CONFIG: path.join(dir, 'bob.json') };
    await ok(['login', await edge.createAccount('alice'), '--server', edge.serverUrl], env);
    await ok(['login', await edge.createAccount('bob'), '--server', edge.serverUrl], bobEnv);
  });
  afterAll(async () => {
    await origin?.close();
    await edge?.close();
  });

  test('name claim / ls / release', async () => {
    const port = edge.edge.httpPort;
    expect(await ok(['name', 'ls'], env)).toBe('(no names: claim one with `udns name claim <name>`)\n');
    expect(await ok(['name', 'claim', 'alicepc'], env)).toBe(`claimed alicepc -> http://alicepc.localhost:${port}\n`);
    expect(await ok(['name', 'claim', 'alicepc.localhost'], env)).toBe(`already yours: alicepc -> http://alicepc.localhost:${port}\n`);
    await ok(['name', 'claim', 'alicebox'], env);
    await ok(['dns', 'add', 'www.alicepc', 'txt', 'hello'], env);

    const agent = spawnCli(['http', String(origin.port), '--name', 'alicebox'], env);
    try {
      await agent.waitForOutput(/alicebox/);
      expect(await ok(['name', 'ls'], env)).toBe([
        `alicebox  online   http://alicebox.localhost:${port}`,
        `alicepc   offline  http://alicepc.localhost:${port}`,
        '  www.alicepc.localhost.  60  IN  TXT    "hello"',
        '',
      ].join('\n'));
    } finally {
      agent.child.kill('SIGINT');
      await agent.exited;
    }

    expect(await ok(['name', 'release', 'alicebox'], env)).toBe('released alicebox\n');
    expect(await ok(['name', 'ls'], env)).not.toContain('alicebox');
  });

  test('dns add / set / ls / rm, with DNS answering each change', async () => {
    await ok(['name', 'claim', 'alicedns'], env);
    expect(await ok(['dns', 'add', 'alicedns', 'A', '203.0.113.7', '--ttl', '300'], env)).toBe('alicedns.localhost.  300  IN  A      203.0.113.7\n');
    expect((await dig(edge, 'alicedns.localhost', 'A')).answers).toEqual(['alicedns.localhost. 300 IN A 203.0.113.7']);
    expect(await ok(['dns', 'set', 'alicedns.localhost', 'aaaa', '2001:db8::1', '2001:DB8::2'], env)).toBe([
      'alicedns.localhost.  60  IN  AAAA   2001:db8::1',
      'alicedns.localhost.  60  IN  AAAA   2001:db8::2',
      '',
    ].join('\n'));
    await ok(['dns', 'add', 'www.alicedns', 'CNAME', 'example.com'], env);
    await ok(['dns', 'add', '_acme-challenge.alicedns', 'TXT', 'say "hi"'], env);
    expect(await ok(['dns', 'ls', 'alicedns'], env)).toBe([
      'alicedns.localhost.                  300  IN  A      203.0.113.7',
      'alicedns.localhost.                   60  IN  AAAA   2001:db8::1',
      'alicedns.localhost.                   60  IN  AAAA   2001:db8::2',
      '_acme-challenge.alicedns.localhost.   60  IN  TXT    "say \\"hi\\""',
      'www.alicedns.localhost.               60  IN  CNAME  example.com.',
      '',
    ].join('\n'));
    expect(await ok(['dns', 'ls'], env)).toContain('www.alicepc.localhost.');
    expect(await ok(['dns', 'ls', 'www.alicedns'], env)).toBe('www.alicedns.localhost.  60  IN  CNAME  example.com.\n');

    expect(await ok(['dns', 'rm', 'alicedns', 'AAAA', '2001:db8::2'], env)).toBe('removed 1 record at alicedns\n');
    expect(await ok(['dns', 'rm', 'alicedns', 'a'], env)).toBe('removed 1 record at alicedns\n');
    expect((await dig(edge, 'alicedns.localhost', 'A')).answers).toEqual(['alicedns.localhost. 60 IN A 127.0.0.1']);
    expect(await ok(['dns', 'rm', 'alicedns'], env)).toBe('removed 1 record at alicedns\n');
    expect(await ok(['dns', 'ls', 'alicedns'], env)).toBe([
      '_acme-challenge.alicedns.localhost.  60  IN  TXT    "say \\"hi\\""',
      'www.alicedns.localhost.              60  IN  CNAME  example.com.',
      '',
    ].join('\n'));
  });

  test.each([
    [['dns', 'add', 'alicepc', 'MX', 'mail.example.com'], /record type must be A, AAAA, TXT or CNAME, got "MX"/, 2],
    [['dns', 'add', 'alicepc', 'A', '203.0.113.7', '--ttl', 'soon'], /ttl must be a whole number of seconds, got "soon"/, 2],
    [['dns', 'add', 'alicepc', 'A', '203.0.113'], /^udns: an A record needs an IPv4 address such as 203\.0\.113\.7, got "203\.0\.113"$/, 2],
    [['dns', 'add', 'alicepc', 'A', '203.0.113.7', '--ttl', '5'], /^udns: ttl must be a whole number of seconds from 30 to 86400, got 5$/, 2],
    [['dns', 'add', 'alicepc', 'CNAME', 'example.com'], /^udns: alicepc cannot be a CNAME: .*www\.alicepc$/, 1],
    [['dns', 'add', 'no-such-name', 'A', '203.0.113.7'], /^udns: the name "no-such-name" is not claimed: claim it first with `udns name claim no-such-name`$/, 1],
    [['dns', 'rm', 'alicepc', 'A'], /^udns: alicepc has no A records$/, 1],
    [['dns', 'add', 'alicepc'], /missing required argument 'type'/, 2],
    [['name', 'claim', 'Bad_Name!'], /^udns: invalid name "bad_name!"/, 2],
    [['name', 'claim', 'www.alicepc'], /^udns: invalid name "www.alicepc"/, 2],
    [['name', 'release', 'never-claimed'], /^udns: the account does not own the name "never-claimed"$/, 1],
  ])('bad input %j: one clear line, non-zero exit', async (args, pattern, code) => {
    expectCleanFailure(await runCli(args, env), pattern, code);
  });

  test('another account\'s name: name_taken to claim, forbidden for records', async () => {
    expectCleanFailure(await runCli(['name', 'claim', 'alicepc'], bobEnv), /^udns: the name "alicepc" belongs to another account$/, 1);
    expectCleanFailure(await runCli(['dns', 'add', 'www.alicepc', 'A', '203.0.113.7'], bobEnv), /^udns: the name "alicepc" belongs to another account$/, 1);
    expectCleanFailure(await runCli(['dns', 'ls', 'alicepc'], bobEnv), /belongs to another account/, 1);
  });
});
