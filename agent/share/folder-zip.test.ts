import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ZipArchive } from 'archiver';
import { pino } from 'pino';
import { afterEach, expect, test } from 'vitest';
import { sendFolderZip } from './folder-zip.js';
import type { SharePolicy } from './share-paths.js';

const logger = pino({ level: 'silent' });
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'udns-folder-zip-')));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function write(file: string, content: string | Buffer = path.basename(file)): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

/** A sparse file: large on paper, instant to make, reads as zeros. */
function sparse(file: string, size: number): void {
  fs.closeSync(fs.openSync(file, 'w'));
  fs.truncateSync(file, size);
}

/** A real server on a free port whose every request gets the ZIP of the share's root. */
async function serveZip(policy: SharePolicy): Promise<number> {
  const server = http.createServer((_req, res) => {
    sendFolderZip(res, policy, policy.root, 'share.zip', logger).catch((error: unknown) => res.destroy(error as Error));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return (server.address() as AddressInfo).port;
}

function get(port: number): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/?zip', agent: false }, resolve).on('error', reject);
  });
}

/** Downloads the ZIP to a file; with `slow`, stopping to read for a moment after every 256 KiB. */
async function download(port: number, slow = false): Promise<string> {
  const file = path.join(tempDir(), 'download.zip');
  const res = await get(port);
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toBe('application/zip');
  if (!slow) {
    await pipeline(res, fs.createWriteStream(file));
    return file;
  }
  const chunks: Buffer[] = [];
  let sincePause = 0;
  await pipeline(res, new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      sincePause += chunk.length;
      if (sincePause < 256 * 1024) return callback();
      sincePause = 0;
      setTimeout(callback, 20);
    },
  }));
  fs.writeFileSync(file, Buffer.concat(chunks));
  return file;
}

/** The entry names of a ZIP, after checking every entry's CRC. */
function zipEntries(zipFile: string): string[] {
  execFileSync('unzip', ['-tq', zipFile]);
  return execFileSync('unzip', ['-Z1', zipFile], { encoding: 'utf8' }).split('\n').filter((line) => line !== '');
}

/** Paths the open file descriptors of this process point at. */
function openFiles(): string[] {
  return fs.readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      return [fs.readlinkSync(`/proc/self/fd/${fd}`)];
    } catch {
      return [];
    }
  });
}

test('the ZIP holds the visible tree: nested and empty folders, Korean names, no hidden files or escaping links', async () => {
  const root = tempDir();
  const outside = tempDir();
  write(path.join(outside, 'secret.txt'));
  write(path.join(root, 'top.txt'), 'top');
  write(path.join(root, 'docs', 'readme.txt'));
  write(path.join(root, 'docs', 'deep', 'nested', 'file.bin'), Buffer.from([0, 1, 2, 255]));
  fs.mkdirSync(path.join(root, 'empty'));
  write(path.join(root, '사진', '여름 바다.txt'), '바다');
  write(path.join(root, '.hidden'));
  write(path.join(root, '.cache', 'x.txt'));
  write(path.join(root, 'docs', '.env'));
  fs.symlinkSync(outside, path.join(root, 'out'));
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'docs', 'secret.txt'));
  fs.symlinkSync('../top.txt', path.join(root, 'docs', 'top-link.txt'));
  const mtime = new Date('2021-06-15T10:20:30Z');
  fs.utimesSync(path.join(root, 'top.txt'), mtime, mtime);
  const port = await serveZip({ root, showHidden: false, followSymlinks: false });

  const zip = await download(port);

  expect(zipEntries(zip).sort()).toEqual([
    'docs/deep/nested/file.bin',
    'docs/readme.txt',
    'docs/top-link.txt',
    'empty/',
    'top.txt',
    '사진/여름 바다.txt',
  ]);
  expect(execFileSync('unzip', ['-p', zip, '사진/여름 바다.txt'], { encoding: 'utf8' })).toBe('바다');
  expect(execFileSync('unzip', ['-p', zip, 'docs/top-link.txt'], { encoding: 'utf8' })).toBe('top');
  expect(execFileSync('unzip', ['-p', zip, 'docs/deep/nested/file.bin'])).toEqual(Buffer.from([0, 1, 2, 255]));
  // STORED, 0644, dated by mtime (zipinfo's -T prints the DOS date, which archiver writes in UTC).
  const top = execFileSync('unzip', ['-Z', '-T', zip, 'top.txt'], { encoding: 'utf8' });
  expect(top).toMatch(/^-rw-r--r-- .* stor 20210615\.102030 top\.txt/m);
});

test('a symlink loop inside the share (a/up -> ..) is walked once and the ZIP completes', async () => {
  const root = tempDir();
  write(path.join(root, 'top.txt'));
  write(path.join(root, 'a', 'file.txt'));
  write(path.join(root, 'a', 'b', 'deep.txt'));
  fs.symlinkSync('..', path.join(root, 'a', 'up'));
  fs.symlinkSync('../..', path.join(root, 'a', 'b', 'upup'));
  fs.mkdirSync(path.join(root, 'only-loop'));
  fs.symlinkSync('.', path.join(root, 'only-loop', 'self'));
  const port = await serveZip({ root, showHidden: false, followSymlinks: false });

  expect(zipEntries(await download(port)).sort()).toEqual(['a/b/deep.txt', 'a/file.txt', 'only-loop/', 'top.txt']);
});

test('with followSymlinks, links to the share root and to its parent are walked without looping', async () => {
  const base = tempDir();
  const root = path.join(base, 'share');
  write(path.join(base, 'sibling', 's.txt'));
  write(path.join(root, 'top.txt'));
  write(path.join(root, 'a', 'file.txt'));
  fs.symlinkSync(root, path.join(root, 'a', 'home'));
  fs.symlinkSync(base, path.join(root, 'a', 'parent'));
  const port = await serveZip({ root, showHidden: false, followSymlinks: true });

  // a/parent/share is the share itself, an ancestor of a/parent: left out, and so is a/home.
  expect(zipEntries(await download(port)).sort()).toEqual(['a/file.txt', 'a/parent/sibling/s.txt', 'top.txt']);
});

test('the walk stays a few entries ahead of a slow reader, not the whole folder', { timeout: 120_000 }, async () => {
  const root = tempDir();
  const files = 5000;
  for (let d = 0; d < 10; d++) fs.mkdirSync(path.join(root, `d${d}`));
  for (let i = 0; i < files; i++) fs.writeFileSync(path.join(root, `d${i % 10}`, `f${i}.txt`), Buffer.alloc(2048, i % 251));
  const port = await serveZip({ root, showHidden: false, followSymlinks: false });
  // Counts what archiver was given against what it has written, whichever way it was given.
  const proto = ZipArchive.prototype as unknown as Record<'append' | 'file', (...args: unknown[]) => unknown>;
  const original = { append: proto.append, file: proto.file };
  const watched = new WeakSet<object>();
  let given = 0;
  let written = 0;
  let maxAhead = 0;
  for (const method of ['append', 'file'] as const) {
    proto[method] = function (this: ZipArchive, ...args: unknown[]) {
      if (!watched.has(this)) {
        watched.add(this);
        this.on('entry', () => written++);
      }
      given++;
      maxAhead = Math.max(maxAhead, given - written);
      return original[method].apply(this, args);
    };
  }
  cleanups.push(() => {
    Object.assign(proto, original);
  });

  const zip = await download(port, true);

  expect(zipEntries(zip)).toHaveLength(files);
  expect(written).toBe(files);
  expect(maxAhead).toBeLessThanOrEqual(4);
});

test('a client leaving mid-file leaves no descriptor open on the file', async () => {
  const root = tempDir();
  const big = path.join(root, 'big.bin');
  sparse(big, 200 * 1024 * 1024);
  const port = await serveZip({ root, showHidden: false, followSymlinks: false });

  for (let attempt = 0; attempt < 3; attempt++) {
    const res = await get(port);
    const openWhileReading = await new Promise<boolean>((resolve) => {
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received < 1024 * 1024 || res.destroyed) return;
        const open = openFiles().includes(big);
        res.destroy();
        resolve(open);
      });
    });
    expect(openWhileReading).toBe(true);
    let open = openFiles().filter((file) => file === big);
    for (let i = 0; i < 100 && open.length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      open = openFiles().filter((file) => file === big);
    }
    expect(open).toEqual([]);
  }
});

test('a file deleted before its turn is left out and the ZIP still completes', async () => {
  const root = tempDir();
  for (const name of ['one.bin', 'two.bin', 'three.bin']) sparse(path.join(root, name), 64 * 1024 * 1024);
  const [first, second, third] = fs.readdirSync(root);
  const port = await serveZip({ root, showHidden: false, followSymlinks: false });
  const file = path.join(tempDir(), 'download.zip');

  const res = await get(port);
  let deleted = false;
  res.on('data', () => {
    // The first file is far larger than every buffer between us, so the third is not open yet.
    if (deleted) return;
    deleted = true;
    fs.rmSync(path.join(root, third!));
  });
  await pipeline(res, fs.createWriteStream(file));

  expect(zipEntries(file)).toEqual([first, second]);
});

test('a visitor gone before the ZIP starts: nothing is opened, and the ZIP settles at once', { timeout: 15_000 }, async () => {
  const root = tempDir();
  const big = path.join(root, 'big.bin');
  sparse(big, 64 * 1024 * 1024);
  const policy = { root, showHidden: false, followSymlinks: false };
  const settled = new Promise<void>((resolve, reject) => {
    const server = http.createServer((req, res) => {
      // As when the visitor leaves while the share is still looking the folder up: the ZIP
      // starts after the response's 'close'. It used to be piped into the dead response,
      // stall on its first write and keep big.bin open until the garbage collector came.
      req.socket.once('close', () => {
        sendFolderZip(res, policy, root, 'share.zip', logger).then(resolve, reject);
      });
      client.destroy();
    });
    server.listen(0, '127.0.0.1');
    cleanups.push(() => new Promise<void>((done) => server.close(() => done())));
    const client = new net.Socket();
    client.on('error', () => {});
    server.once('listening', () => {
      client.connect((server.address() as AddressInfo).port, '127.0.0.1', () => client.write('GET /?zip HTTP/1.1\r\nHost: x\r\n\r\n'));
    });
  });

  await settled;

  expect(openFiles()).not.toContain(big);
});
