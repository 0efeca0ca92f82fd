import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startAgent, type Agent } from '../../agent/agent.js';
import { partFilesFor, writePartState } from '../../cli/download/part-state.js';
import { encodeSharePath } from '../../protocol/index.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/test-certificates.js';
import { runCli, spawnCli, startTestAgent, type CliProcess } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { visit } from '../helpers/visitor.js';

const MiB = 1024 * 1024;
const KOREAN = '한글 파일 1.txt';
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const sha256OfFile = (file: string): string => sha256(fs.readFileSync(file));

/** Every file under `dir` (relative path → SHA-256), and every folder (→ 'dir'). */
function tree(dir: string): Record<string, string> {
  const found: Record<string, string> = {};
  const walk = (current: string): void => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      const key = path.relative(dir, full);
      if (entry.isDirectory()) {
        found[key] = 'dir';
        walk(full);
      } else {
        found[key] = sha256OfFile(full);
      }
    }
  };
  walk(dir);
  return found;
}

describe('udns get against a real share, through the real edge and agent', () => {
  let edge: TestEdge;
  let agent: Agent;
  let work: string;
  let shared: string;
  let base: string;
  let secretBase: string;
  let lockedBase: string;
  let outputs = 0;
  /** A fresh empty folder to download into. */
  const outDir = (): string => {
    const dir = path.join(work, `out-${++outputs}`);
    fs.mkdirSync(dir);
    return dir;
  };

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-get-e2e-'));
    shared = path.join(work, 'shared');
    fs.mkdirSync(path.join(shared, 'album', 'sub', '빈 폴더'), { recursive: true });
    fs.writeFileSync(path.join(shared, KOREAN), Buffer.concat([Buffer.from('한국어 내용\n'), randomBytes(300_000)]));
    fs.writeFileSync(path.join(shared, 'data.bin'), randomBytes(5 * MiB + 3));
    fs.writeFileSync(path.join(shared, 'album', 'a.jpg'), randomBytes(700_000));
    fs.writeFileSync(path.join(shared, 'album', '사진 2.png'), randomBytes(12_345));
    fs.writeFileSync(path.join(shared, 'album', 'sub', 'notes.txt'), 'notes\n');
    fs.writeFileSync(path.join(shared, 'album', 'sub', 'empty.txt'), '');
    edge = await startTestEdge();
    agent = await startTestAgent(edge, [
      { kind: 'share', dir: shared, name: 'files' },
      { kind: 'share', dir: shared, name: 'secret', password: 'open sesame 열려라' },
      { kind: 'share', dir: shared, name: 'locked', password: 'right' },
    ]);
    const url = (name: string): string => agent.routes.find((route) => route.name === name)!.url;
    [base, secretBase, lockedBase] = [url('files'), url('secret'), url('locked')];
  });
  afterAll(async () => {
    agent?.stop();
    await edge?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('a file with a Korean name and a space arrives byte-identical under its own name, verified', async () => {
    const out = outDir();
    const result = await runCli(['get', `${base}${encodeSharePath(`/${KOREAN}`)}`, '-o', `${out}/`]);
    expect(result.stderr).toMatch(/^udns: downloading 한글 파일 1\.txt \(293 KiB\)\nudns: received 한글 파일 1\.txt: .+\n$/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^saved .*한글 파일 1\.txt \(.+, SHA-256 verified\)\n$/);
    expect(fs.readdirSync(out)).toEqual([KOREAN]);
    expect(fs.readFileSync(path.join(out, KOREAN)).equals(fs.readFileSync(path.join(shared, KOREAN)))).toBe(true);
  });

  test('running it again keeps the identical file; a different local file is only replaced with --force', async () => {
    const out = outDir();
    const url = `${base}/data.bin`;
    const file = path.join(out, 'data.bin');
    fs.copyFileSync(path.join(shared, 'data.bin'), file);
    const again = await runCli(['get', url, '-o', file]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^already there: .*data\.bin \(5\.0 MiB, same SHA-256 as the share\)\n$/);

    fs.writeFileSync(file, 'my own work');
    const refused = await runCli(['get', url, '-o', file]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^udns: .*data\.bin already exists and is not the shared file: pass --force to replace it, or -o <path> to save elsewhere\n$/);
    expect(fs.readFileSync(file, 'utf8')).toBe('my own work');

    const forced = await runCli(['get', url, '-o', file, '--force']);
    expect(forced.code).toBe(0);
    expect(sha256OfFile(file)).toBe(sha256OfFile(path.join(shared, 'data.bin')));
  });

  test('a partial .part from an earlier run is resumed with Range, and the result is verified', async () => {
    const out = outDir();
    const url = `${base}/data.bin`;
    const file = path.join(out, 'data.bin');
    const original = fs.readFileSync(path.join(shared, 'data.bin'));
    const head = await visit(edge, 'files', '/data.bin', { method: 'HEAD' });
    fs.writeFileSync(`${file}.part`, original.subarray(0, 2 * MiB + 5));
    writePartState(partFilesFor(file), { url, etag: String(head.headers.etag), size: original.length });

    const result = await runCli(['get', url, '-o', file]);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^udns: resuming data\.bin at 2\.0 MiB of 5\.0 MiB\n/);
    expect(result.stdout).toMatch(/SHA-256 verified, resumed at 2\.0 MiB\)\n$/);
    expect(fs.readFileSync(file).equals(original)).toBe(true);
    expect(fs.readdirSync(out)).toEqual(['data.bin']);
  });

  test('If-Range mismatch: the file changed on the share since the .part was written, so it starts over', async () => {
    const out = outDir();
    const sharedFile = path.join(shared, 'changing.bin');
    fs.writeFileSync(sharedFile, randomBytes(3 * MiB));
    const url = `${base}/changing.bin`;
    const file = path.join(out, 'changing.bin');
    const head = await visit(edge, 'files', '/changing.bin', { method: 'HEAD' });
    fs.writeFileSync(`${file}.part`, fs.readFileSync(sharedFile).subarray(0, MiB));
    writePartState(partFilesFor(file), { url, etag: String(head.headers.etag), size: 3 * MiB });
    const newer = randomBytes(2 * MiB + 1);
    fs.writeFileSync(sharedFile, newer);
    fs.utimesSync(sharedFile, new Date(), new Date(Date.now() + 5000));

    const result = await runCli(['get', url, '-o', file]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('changing.bin changed on the share since the last run; starting over');
    expect(fs.readFileSync(file).equals(newer)).toBe(true);
  });

  test('checksum: bytes corrupted on disk before a resume are caught, and nothing corrupt is kept', async () => {
    const out = outDir();
    const url = `${base}/data.bin`;
    const file = path.join(out, 'data.bin');
    const corrupt = Buffer.from(fs.readFileSync(path.join(shared, 'data.bin')).subarray(0, 3 * MiB));
    corrupt[1000] = corrupt[1000]! ^ 0xff;
    const head = await visit(edge, 'files', '/data.bin', { method: 'HEAD' });
    fs.writeFileSync(`${file}.part`, corrupt);
    writePartState(partFilesFor(file), { url, etag: String(head.headers.etag), size: 5 * MiB + 3 });

    const result = await runCli(['get', url, '-o', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/udns: data\.bin does not match the share's SHA-256: got [0-9a-f]{16}…, expected [0-9a-f]{16}…; nothing was saved, run the command again to download it afresh\n$/);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  test('a folder URL without its slash (the share redirects) is saved as a streamed ZIP that unzip accepts', async () => {
    const out = outDir();
    const result = await runCli(['get', `${base}/album`, '-o', `${out}/`]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^saved .*album\.zip \(.+, size verified\)\n$/);
    const zip = path.join(out, 'album.zip');
    expect(execFileSync('/usr/bin/unzip', ['-t', zip], { encoding: 'utf8' })).toContain('No errors detected');
    const listing = execFileSync('/usr/bin/unzip', ['-Z1', zip], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
    expect(listing).toEqual(['a.jpg', 'sub/empty.txt', 'sub/notes.txt', 'sub/빈 폴더/', '사진 2.png'].sort());
    const unpacked = path.join(out, 'unpacked');
    execFileSync('/usr/bin/unzip', ['-q', zip, '-d', unpacked]);
    expect(tree(unpacked)).toEqual(tree(path.join(shared, 'album')));
  });

  test('--recursive copies the folder file by file, tree and empty folders included, and a rerun skips what is there', async () => {
    const out = outDir();
    const target = path.join(out, 'copy');
    const result = await runCli(['get', `${base}/album/`, '--recursive', '-o', target]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^saved .*copy\/ \(4 files, 696 KiB\)\n$/);
    expect(tree(target)).toEqual(tree(path.join(shared, 'album')));
    const again = await runCli(['get', `${base}/album/`, '--recursive', '-o', target]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/\(4 files, 696 KiB, 4 already there\)\n$/);
  });

  test('a password share: --password and UDNS_SHARE_PASSWORD work, a wrong one fails, none without a terminal says what to pass', async () => {
    const url = `${secretBase}${encodeSharePath(`/${KOREAN}`)}`;
    const good = await runCli(['get', url, '-o', `${outDir()}/`, '--password', 'open sesame 열려라']);
    expect(good.code).toBe(0);
    const fromEnv = await runCli(['get', `${secretBase}/album/`, '--recursive', '-o', path.join(outDir(), 'a')], { UDNS_SHARE_PASSWORD: 'open sesame 열려라' });
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.stdout).toContain('(4 files');

    const wrong = await runCli(['get', url, '-o', `${outDir()}/`, '--password', 'guess']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe(`udns: wrong password for ${new URL(secretBase).host}\n`);

    const missing = await runCli(['get', url, '-o', `${outDir()}/`], { UDNS_SHARE_PASSWORD: '' });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`udns: ${new URL(secretBase).host} is password-protected: pass --password <password> or set UDNS_SHARE_PASSWORD\n`);
  });

  test('too many wrong passwords: says how long to wait', async () => {
    const wrong = `Basic ${Buffer.from('udns:wrong').toString('base64')}`;
    for (let attempt = 0; attempt < 5; attempt++) {
      expect((await visit(edge, 'locked', '/data.bin', { method: 'HEAD', headers: { authorization: wrong } })).status).toBe(401);
    }
    const result = await runCli(['get', `${lockedBase}/data.bin`, '-o', `${outDir()}/`, '--password', 'wrong again']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^udns: too many attempts, retry in \d+ s\n$/);
  });

  test('bad input exits 2 with one line; a missing file exits 1', async () => {
    const invalid = await runCli(['get', 'not a url']);
    expect(invalid).toMatchObject({ code: 2, stdout: '' });
    expect(invalid.stderr).toMatch(/^udns: invalid URL "not a url": .+\n$/);
    const missing = await runCli(['get', `${base}/nope.txt`, '-o', `${outDir()}/`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`udns: /nope.txt is not on ${new URL(base).host}\n`);
  });

  test('a name that does not exist is said to be no name at all, for a file or a folder URL', async () => {
    const host = `nobody-here.localhost:${new URL(base).port}`;
    for (const url of [`http://${host}/data.bin`, `http://${host}/`]) {
      const result = await runCli(['get', url, '-o', `${outDir()}/`]);
      expect(result).toMatchObject({ code: 1, stdout: '' });
      expect(result.stderr).toBe('udns: no such name: nobody-here.localhost is not a name on localhost\n');
    }
  });
});

describe('udns get of 1 GiB while the sharing agent is killed and restarted midway', () => {
  const cleanups: Array<() => unknown> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test('the download rides out the restart and ends byte-identical', async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-get-big-'));
    cleanups.push(() => fs.rmSync(work, { recursive: true, force: true }));
    const shared = path.join(work, 'shared');
    fs.mkdirSync(shared);
    // 1 GiB: a random MiB repeated, each copy stamped with its index, so a resume at a wrong
    // offset (even a whole MiB off) changes the result.
    const block = randomBytes(MiB);
    const expected = createHash('sha256');
    const fd = fs.openSync(path.join(shared, 'big.bin'), 'w');
    for (let i = 0; i < 1024; i++) {
      block.writeUInt32BE(i, 0);
      block.writeUInt32BE(i, MiB / 2);
      fs.writeSync(fd, block);
      expected.update(block);
    }
    fs.closeSync(fd);

    const edge = await startTestEdge();
    cleanups.push(() => edge.close());
    const shareArgs = ['share', shared, '--name', 'big', '--server', edge.serverUrl, '--token', edge.adminToken];
    const startShare = async (): Promise<CliProcess> => {
      const share = spawnCli(shareArgs);
      cleanups.push(() => share.child.kill('SIGKILL'));
      await share.waitForOutput(/big\.localhost/);
      return share;
    };
    const first = await startShare();
    const url = first.stdout().split(' -> ')[0]!.trim();

    const out = path.join(work, 'out');
    const get = spawnCli(['get', `${url}/big.bin`, '-o', `${out}/`]);
    cleanups.push(() => get.child.kill('SIGKILL'));
    const part = path.join(out, 'big.bin.part');
    const partSize = (): number => (fs.existsSync(part) ? fs.statSync(part).size : 0);
    while (partSize() < 200 * MiB) {
      if (get.child.exitCode !== null) throw new Error(`udns get ended early: ${get.stderr()}`);
      await sleep(10);
    }
    first.child.kill('SIGKILL');
    await first.exited;
    await startShare();

    const { code } = await get.exited;
    // stderr in the comparison: a failure shows what udns get said.
    expect({ code, stderr: get.stderr() }).toEqual({ code: 0, stderr: expect.stringMatching(/retrying in/) });
    // Resumed from the bytes on disk, not fetched again from zero.
    expect(get.stderr()).not.toMatch(/starting over/);
    expect(get.stdout()).toMatch(/^saved .*big\.bin \(1\.0 GiB, SHA-256 verified\)\n$/);
    const got = createHash('sha256');
    for await (const chunk of fs.createReadStream(path.join(out, 'big.bin'), { highWaterMark: 4 * MiB })) got.update(chunk as Buffer);
    expect(got.digest('hex')).toBe(expected.digest('hex'));
    expect(fs.readdirSync(out)).toEqual(['big.bin']);
  }, 90_000);
});

describe('udns get over HTTPS', () => {
  let certs: TestCertificates;
  let edge: TestEdge;
  let agent: Agent;
  let work: string;
  let fileUrl: string;

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-get-tls-'));
    fs.mkdirSync(path.join(work, 'shared'));
    fs.writeFileSync(path.join(work, 'shared', 'slides.pdf'), randomBytes(200_000));
    // Two labels under localhost: a wildcard certificate covers the share names, and
    // `udns get` resolves *.localhost to the loopback address like browsers and curl do.
    certs = makeTestCertificates('share.localhost');
    edge = await startTestEdge({ domain: 'share.localhost', httpsPort: 0, tlsCert: certs.certFile, tlsKey: certs.keyFile });
    agent = await startAgent({ serverUrl: `https://127.0.0.1:${edge.edge.httpsPort}`, token: edge.adminToken, ca: certs.ca, routes: [{ kind: 'share', dir: path.join(work, 'shared'), name: 'tls' }] });
    fileUrl = `${agent.routes[0]!.url}/slides.pdf`;
  });
  afterAll(async () => {
    agent?.stop();
    await edge?.close();
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(certs.dir, { recursive: true, force: true });
  });

  test('with --ca the download works; without it, one line says how to trust the certificate', async () => {
    expect(fileUrl).toMatch(/^https:\/\/tls\.share\.localhost:\d+\/slides\.pdf$/);
    const out = path.join(work, 'out');
    const trusted = await runCli(['get', fileUrl, '-o', `${out}/`, '--ca', certs.caFile]);
    expect(trusted.code).toBe(0);
    expect(fs.readFileSync(path.join(out, 'slides.pdf')).equals(fs.readFileSync(path.join(work, 'shared', 'slides.pdf')))).toBe(true);

    const untrusted = await runCli(['get', fileUrl, '-o', path.join(out, 'other.pdf')]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/^udns: the certificate of https:\/\/tls\.share\.localhost:\d+ is not trusted \(.+\): pass --ca <file> for a private CA, or --insecure to skip the check\n$/);

    const insecure = await runCli(['get', fileUrl, '-o', path.join(out, 'other.pdf'), '--insecure']);
    expect(insecure.code).toBe(0);
  });
});
