import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encode } from 'uqr';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { runCli, spawnCli } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

/** The module grid printed as plain block characters (two rows a line), read back. */
function gridOf(lines: string[]): boolean[][] {
  return lines.flatMap((line) => {
    const chars = [...line];
    return [chars.map((c) => c === '█' || c === '▀'), chars.map((c) => c === '█' || c === '▄')];
  });
}

/* Issue 9: `--qr` prints a QR code of the public URL when the route comes up. */
describe('udns http|share|tcp --qr', () => {
  let edge: TestEdge;
  let origin: Origin;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startHttpOrigin();
    env = { UDNS_CONFIG: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'udns-cli-qr-')), 'cli.json') };
    expect((await runCli(['login', await edge.createAccount('quinn'), '--server', edge.serverUrl], env)).code).toBe(0);
  });
  afterAll(async () => {
    await origin?.close();
    await edge?.close();
  });

  test.each([
    ['http', () => [String(origin.port), '--name', 'quinnqr']],
    ['share', () => [os.tmpdir(), '--name', 'quinnshare']],
    ['tcp', () => [String(origin.port)]],
  ])('udns %s --qr: after the URL line, the code of that URL, module for module', async (command, args) => {
    const agent = spawnCli([command, ...args(), '--qr'], env);
    try {
      const first = await agent.waitForOutput(/ -> .*\n/);
      const url = first.split(' -> ')[0]!.trim();
      const { data, size } = encode(url, { border: 2 });
      const out = await agent.waitForOutput(new RegExp(`^(.*\\n){${1 + Math.ceil(size / 2)}}`));
      const lines = out.split('\n').slice(1, 1 + Math.ceil(size / 2));
      expect(lines.every((line) => /^[ █▀▄]+$/.test(line) && [...line].length === size)).toBe(true);
      expect(gridOf(lines).slice(0, size)).toEqual(data);
    } finally {
      agent.child.kill('SIGINT');
      await agent.exited;
    }
  });

  test('without --qr, no code', async () => {
    const agent = spawnCli(['http', String(origin.port), '--name', 'quinnplain'], env);
    try {
      await agent.waitForOutput(/ -> .*\n/);
      expect(agent.stdout()).not.toMatch(/[█▀▄]/);
    } finally {
      agent.child.kill('SIGINT');
      await agent.exited;
    }
  });
});
