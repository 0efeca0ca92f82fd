import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { PACKAGE_ROOT } from '../helpers/test-agent.js';

const run = promisify(execFile);
const version = (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/*
 * Issue 9 #1: `udns` must install and run from a packed tarball as it would from the registry.
 * `npm pack --ignore-scripts` packs the dist/ that `npm test`'s pretest just built (no rebuild
 * of the shared tree). The default tests unpack it next to the checkout's node_modules, so a
 * file missing from `files` fails without a 5-minute dependency install; the full
 * `npm install -g --prefix` of the tarball runs with UDNS_TEST_PACK_INSTALL=1.
 */
describe('the packed tarball', () => {
  let work: string;
  let tarball: string;
  let files: string[];

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-pack-'));
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: PACKAGE_ROOT });
    const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = path.join(work, packed!.filename);
    files = packed!.files.map((file) => file.path);
  }, 60_000);
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  test('holds the built program, the Prisma client, the migrations and vendored dns2, not sources or tests', () => {
    for (const needed of [
      'bin/udns.js', 'package.json', 'README.md', 'dist/cli/index.js', 'dist/server/edge.js', 'dist/agent/agent.js',
      'dist/protocol/messages.js', 'dist/server/accounts/generated/client.js', 'dist/server/accounts/generated-postgres/client.js',
      'prisma/migrations/migration_lock.toml', 'prisma/postgres/migrations/migration_lock.toml', 'vendor/dns2/package.json',
    ]) expect(files, needed).toContain(needed);
    expect(files.filter((file) => /^prisma\/migrations\/[^/]+\/migration\.sql$/.test(file)).length).toBe(
      fs.readdirSync(path.join(PACKAGE_ROOT, 'prisma', 'migrations')).filter((name) => !name.endsWith('.toml')).length,
    );
    expect(files.filter((file) => /\.test\.js$|\.map$|^dist\/(test|bench)\/|\.ts$/.test(file) && !file.startsWith('vendor/'))).toEqual([]);
  });

  test('runs unpacked, from another folder, through a bin link as npm makes: --version and an edge that migrates and serves', async () => {
    const unpacked = path.join(work, 'unpacked');
    fs.mkdirSync(unpacked);
    await run('tar', ['-xzf', tarball, '-C', unpacked]);
    const root = path.join(unpacked, 'package');
    fs.symlinkSync(path.join(PACKAGE_ROOT, 'node_modules'), path.join(root, 'node_modules'), 'dir');
    fs.mkdirSync(path.join(work, 'bin'));
    const udns = path.join(work, 'bin', 'udns');
    fs.symlinkSync(path.join(root, 'bin', 'udns.js'), udns);
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-elsewhere-'));

    const { stdout } = await run(udns, ['--version'], { cwd: elsewhere });
    expect(stdout.trim()).toBe(version);

    const edge = spawn(udns, ['server', '--http-port', '0', '--dns-port', '0', '--bind', '127.0.0.1', '--data-dir', path.join(elsewhere, 'data'), '--log-level', 'warn'], { cwd: elsewhere, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    edge.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    edge.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    try {
      await eventually('the edge to serve and name its admin token', () => (/udns login/.test(output) ? true : undefined), { timeoutMs: 30_000 });
      expect(fs.existsSync(path.join(elsewhere, 'data', 'admin-token'))).toBe(true);
    } finally {
      edge.kill('SIGTERM');
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  }, 60_000);

  test.runIf(process.env.UDNS_TEST_PACK_INSTALL === '1')('installs with npm install -g --prefix and `udns --version` works from another folder', async () => {
    const prefix = path.join(work, 'prefix');
    await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: work, maxBuffer: 1 << 24 });
    const { stdout } = await run(path.join(prefix, 'bin', 'udns'), ['--version'], { cwd: os.tmpdir() });
    expect(stdout.trim()).toBe(version);
  }, 900_000);
});
