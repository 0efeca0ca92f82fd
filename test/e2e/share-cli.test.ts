import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { makeShareFixture, type ShareFixture } from '../helpers/share-fixtures.js';
import { expectCleanFailure, runCli, spawnCli, type CliProcess } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { writeTokenFile } from '../helpers/token-file.js';
import { visit } from '../helpers/visitor.js';

describe('udns share and udns up from the command line', () => {
  let edge: TestEdge;
  let origin: Origin;
  let fixture: ShareFixture;
  let flags: string[];
  const running: CliProcess[] = [];

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startHttpOrigin();
    fixture = makeShareFixture();
    flags = ['--server', edge.serverUrl, '--token-file', writeTokenFile(edge.adminToken)];
  });
  afterAll(async () => {
    for (const cli of running) cli.child.kill('SIGTERM');
    await origin?.close();
    await edge?.close();
    fixture?.cleanup();
  });

  test('udns share prints `<public-url> -> <dir>` and serves the folder', async () => {
    const cli = spawnCli(['share', fixture.root, '--name', 'clishare', '--expires', '1h', ...flags]);
    running.push(cli);
    const out = await cli.waitForOutput(/ -> /);
    expect(out.trim()).toBe(`http://clishare.localhost:${edge.edge.httpPort} -> ${fs.realpathSync(fixture.root)}`);
    for (let i = 0; i < 50 && !cli.stderr().includes('expires'); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(cli.stderr()).toMatch(/the share expires in 1h \(at .+\)/);
    expect((await visit(edge, 'clishare', '/hello.txt')).body).toBe('hello from the share\n');
  });

  test('the password can come from UDNS_SHARE_PASSWORD instead of the command line', async () => {
    const cli = spawnCli(['share', fixture.root, '--name', 'envpass', ...flags], { UDNS_SHARE_PASSWORD: 'from env' });
    running.push(cli);
    await cli.waitForOutput(/ -> /);
    expect((await visit(edge, 'envpass', '/hello.txt')).status).toBe(401);
    const basic = `Basic ${Buffer.from('x:from env').toString('base64')}`;
    expect((await visit(edge, 'envpass', '/hello.txt', { headers: { authorization: basic } })).status).toBe(200);
  });

  test('udns up runs every route and share of a config file from one agent', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-up-'));
    const config = path.join(dir, 'agent.yml');
    fs.writeFileSync(config, [
      `server: ${edge.serverUrl}`,
      `token: ${edge.adminToken}`,
      'routes:',
      `  - http: ${origin.port}`,
      '    name: upweb',
      `  - share: ${path.relative(dir, fixture.root)}`,
      '    name: updocs',
      '    allow-upload: true',
      `  - share: ${fixture.root}`,
      '    name: uplocked',
      '    password: pw',
    ].join('\n'));
    const cli = spawnCli(['up', '--config', config]);
    running.push(cli);
    await cli.waitForOutput(/uplocked.* -> /);
    const lines = cli.stdout().trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toBe(`http://updocs.localhost:${edge.edge.httpPort} -> ${fs.realpathSync(fixture.root)}`);
    expect((await visit(edge, 'upweb', '/echo')).status).toBe(200);
    expect((await visit(edge, 'updocs', '/hello.txt')).body).toBe('hello from the share\n');
    expect((await visit(edge, 'uplocked', '/hello.txt')).status).toBe(401);
    fs.rmSync(dir, { recursive: true });
  });

  test('bad input is one clear line and a non-zero exit', async () => {
    expectCleanFailure(await runCli(['share', '/nonexistent/folder', ...flags]), /^udns: cannot share \/nonexistent\/folder: no such folder$/);
    expectCleanFailure(await runCli(['share', path.join(fixture.root, 'hello.txt'), ...flags]), /it is a file, not a folder/);
    expectCleanFailure(await runCli(['share', fixture.root, '--expires', '2', ...flags]), /expires must be a duration like 90s, 30m, 2h/);
    expectCleanFailure(await runCli(['share', fixture.root, '--name', 'Bad_Name!', ...flags]), /name/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-up-'));
    const config = path.join(dir, 'agent.yml');
    fs.writeFileSync(config, 'routes:\n  - share: /tmp\n    allow-uploads: true\n');
    expectCleanFailure(await runCli(['up', '--config', config, ...flags]), /agent\.yml: routes\.0/);
    fs.writeFileSync(config, 'routes: [\n');
    expectCleanFailure(await runCli(['up', '--config', config, ...flags]), /agent\.yml is not valid YAML/);
    expectCleanFailure(await runCli(['up', '--config', path.join(dir, 'missing.yml'), ...flags]), /cannot read .*missing\.yml: ENOENT/);
    fs.rmSync(dir, { recursive: true });
  });
});
