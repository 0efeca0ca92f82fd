import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { eventually } from '../../test/helpers/eventually.js';
import { createAgentLogger } from '../agent-logger.js';
import { commitPlain } from '../../protocol/sealed-file.js';
import { PriceList } from '../exchange/price-list.js';
import { commitFilePlain, hashFileSha256 } from './background-hasher.js';
import { HashCache, defaultHashCacheFile } from './hash-cache.js';
import { ListedShare, type ListedShareOptions } from './listed-share.js';

const logger = createAgentLogger('silent');
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-index-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A hasher that counts the files it reads (what a restart must not do again). */
function countingHasher(): { hashFile: (file: string) => Promise<string>; reads: string[] } {
  const reads: string[] = [];
  return { reads, hashFile: async (file) => { reads.push(path.basename(file)); return hashFileSha256(file); } };
}

function listed(root: string, cache: HashCache, extra: Partial<ListedShareOptions> = {}): ListedShare {
  const share = new ListedShare({
    policy: { root: fs.realpathSync(root), showHidden: false, followSymlinks: false },
    locked: false, expiresAtMs: null, cache, logger, watch: false, rescanIntervalMs: 3_600_000, settleMs: 50, ...extra,
  });
  cleanups.push(() => share.close());
  return share;
}

function openCache(file: string): HashCache {
  const cache = new HashCache(file);
  cleanups.push(() => cache.close());
  return cache;
}

const SHA_OF_HELLO = '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';

test('entries are listed at once without digests, then each gets its SHA-256 in the background', async () => {
  const root = tempDir();
  fs.writeFileSync(path.join(root, 'hello.txt'), 'hello');
  fs.writeFileSync(path.join(root, '.secret'), 'hidden');
  let release!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  const share = listed(root, openCache(path.join(tempDir(), 'h.sqlite')), {
    hashFile: async (file) => { await gate; return hashFileSha256(file); },
  });
  await share.ready();
  expect(share.index.get('/hello.txt')).toEqual({ path: '/hello.txt', size: 5, mtime: expect.any(Number), type: 'text/plain' });
  expect(share.index.get('/.secret')).toBeUndefined();
  release();
  await share.settled();
  expect(share.index.get('/hello.txt')!.sha256).toBe(SHA_OF_HELLO);
});

test('a restart rehashes nothing: digests come from the cache file by device, inode, size and mtime', async () => {
  const root = tempDir();
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(root, `file-${i}.bin`), `content ${i}`);
  const cacheFile = path.join(tempDir(), 'cache', 'file-hashes.sqlite');
  const first = countingHasher();
  const before = listed(root, openCache(cacheFile), { hashFile: first.hashFile });
  await before.ready();
  await before.settled();
  expect(first.reads).toHaveLength(20);
  const digests = before.index.summary().digests;
  before.close();

  // A new process: a new cache object on the same file, a new share, a new hasher.
  const second = countingHasher();
  const after = listed(root, openCache(cacheFile), { hashFile: second.hashFile });
  await after.ready();
  await after.settled();
  expect(second.reads).toEqual([]);
  expect(after.index.summary().digests).toBe(digests);
  expect([...after.index.paths()].every((name) => after.index.get(name)!.sha256 !== undefined)).toBe(true);

  // A changed file is a new version: only it is read again.
  fs.writeFileSync(path.join(root, 'file-3.bin'), 'changed, and longer');
  const third = countingHasher();
  const again = listed(root, openCache(cacheFile), { hashFile: third.hashFile });
  await again.ready();
  await again.settled();
  expect(third.reads).toEqual(['file-3.bin']);
});

test('a file that cannot be read for hashing stays listed without a digest, and the others are hashed', async () => {
  const root = tempDir();
  fs.writeFileSync(path.join(root, 'a.txt'), 'a');
  fs.writeFileSync(path.join(root, 'b.txt'), 'b');
  const share = listed(root, openCache(path.join(tempDir(), 'h.sqlite')), {
    hashFile: async (file) => {
      if (file.endsWith('a.txt')) throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      return hashFileSha256(file);
    },
  });
  await share.ready();
  await share.settled();
  expect(share.index.get('/a.txt')!.sha256).toBeUndefined();
  expect(share.index.get('/b.txt')!.sha256).toMatch(/^[0-9a-f]{64}$/);
});

test('a cache that cannot be opened keeps digests in memory instead of failing', () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'not-a-folder'), '');
  const cache = new HashCache(path.join(dir, 'not-a-folder', 'h.sqlite'));
  expect(cache.problem).toMatch(/not-a-folder/);
  cache.put({ dev: 1, ino: 2, size: 3, mtimeMs: 4.5 }, SHA_OF_HELLO);
  expect(cache.get({ dev: 1, ino: 2, size: 3, mtimeMs: 4.5 })).toBe(SHA_OF_HELLO);
  expect(cache.get({ dev: 1, ino: 2, size: 3, mtimeMs: 4.6 })).toBeNull();
});

test('the cache lives under XDG_CACHE_HOME, else ~/.cache', () => {
  expect(defaultHashCacheFile({ XDG_CACHE_HOME: '/x/cache' }, '/home/a')).toBe('/x/cache/udns/file-hashes.sqlite');
  expect(defaultHashCacheFile({ XDG_CACHE_HOME: 'relative' }, '/home/a')).toBe('/home/a/.cache/udns/file-hashes.sqlite');
  expect(defaultHashCacheFile({}, '/home/a')).toBe('/home/a/.cache/udns/file-hashes.sqlite');
});

test('watching sees new files in new folders, renames and deletes', async () => {
  const root = tempDir();
  fs.writeFileSync(path.join(root, 'keep.txt'), 'keep');
  fs.mkdirSync(path.join(root, 'old'));
  fs.writeFileSync(path.join(root, 'old', 'moved.txt'), 'moved');
  fs.mkdirSync(path.join(root, '.git'));
  const share = listed(root, openCache(path.join(tempDir(), 'h.sqlite')), { watch: true });
  await share.ready();
  const changes: string[] = [];
  share.index.onChange((name) => changes.push(name));
  // The watcher starts after the first scan: wait until it is there.
  await eventually('the watcher', () => ((share as unknown as { watcher: unknown }).watcher !== null ? true : undefined));

  fs.mkdirSync(path.join(root, 'new', 'deeper'), { recursive: true });
  fs.writeFileSync(path.join(root, 'new', 'deeper', 'fresh.pdf'), '%PDF');
  await eventually('the new file', () => share.index.get('/new/deeper/fresh.pdf'));
  expect(share.index.get('/new/deeper/fresh.pdf')!.type).toBe('application/pdf');

  fs.renameSync(path.join(root, 'old'), path.join(root, 'renamed'));
  await eventually('the renamed folder', () => (share.index.get('/renamed/moved.txt') && !share.index.get('/old/moved.txt') ? true : undefined));

  fs.rmSync(path.join(root, 'keep.txt'));
  await eventually('the delete', () => (share.index.get('/keep.txt') === undefined ? true : undefined));
  fs.writeFileSync(path.join(root, '.hidden-new'), 'x');
  fs.writeFileSync(path.join(root, 'marker.txt'), 'x');
  await eventually('the marker', () => share.index.get('/marker.txt'));
  // A file in a folder created after the scan, written after its folder was seen.
  fs.mkdirSync(path.join(root, 'later'));
  await eventually('the new folder watched', () => ((share as unknown as { watcher: { watchedFolders: number } }).watcher.watchedFolders === 5 ? true : undefined));
  fs.writeFileSync(path.join(root, 'later', 'inside.txt'), 'x');
  await eventually('the file in the new folder', () => share.index.get('/later/inside.txt'));
  fs.rmSync(path.join(root, 'later'), { recursive: true });
  await eventually('the folder gone', () => (share.index.get('/later/inside.txt') === undefined ? true : undefined));
  expect(share.index.get('/.hidden-new')).toBeUndefined();
  expect(changes).toContain('/old/moved.txt');
  expect(changes).toContain('/keep.txt');
  // One watch per visible folder (Linux), the hidden one left alone: /, /new, /new/deeper, /renamed.
  if (process.platform === 'linux') expect((share as unknown as { watcher: { watchedFolders: number } }).watcher.watchedFolders).toBe(4);
});

test('without watching, the periodic rescan finds what changed', async () => {
  const root = tempDir();
  fs.writeFileSync(path.join(root, 'a.txt'), 'a');
  const share = listed(root, openCache(path.join(tempDir(), 'h.sqlite')), { watch: false, rescanIntervalMs: 100 });
  await share.ready();
  fs.mkdirSync(path.join(root, 'sub'));
  fs.writeFileSync(path.join(root, 'sub', 'b.txt'), 'b');
  fs.rmSync(path.join(root, 'a.txt'));
  await eventually('the rescan', () => (share.index.get('/sub/b.txt') && !share.index.get('/a.txt') ? true : undefined));
});

test('a share over the file limit is refused locally, once, with a clear error', async () => {
  const root = tempDir();
  for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(root, `f${i}`), 'x');
  const share = listed(root, openCache(path.join(tempDir(), 'h.sqlite')), { maxFiles: 3 });
  const refusals: Error[] = [];
  share.on('refused', (error: Error) => refusals.push(error));
  await share.ready();
  expect(refusals).toHaveLength(1);
  expect(share.refused?.code).toBe('index_limit');
  expect(share.refused?.message).toMatch(/more than 3 files/);
});

test('a priced file is listed only once committed to, with its price and Merkle root; a price change syncs the entry again', async () => {
  const root = tempDir();
  fs.mkdirSync(path.join(root, 'talks'));
  fs.writeFileSync(path.join(root, 'talks', 'a.pdf'), 'hello');
  fs.writeFileSync(path.join(root, 'notes.txt'), 'hello');
  const plain = await commitPlain(path.join(root, 'talks', 'a.pdf'));
  let release!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  const commits: string[] = [];
  const share = listed(root, openCache(path.join(tempDir(), 'h.sqlite')), {
    prices: new PriceList([{ glob: 'talks/*.pdf', price: 50 }]),
    commitFile: async (file) => { await gate; commits.push(path.basename(file)); return commitFilePlain(file); },
  });
  await share.ready();
  // Not listed as a free file while its commitment is being computed.
  expect(share.index.get('/talks/a.pdf')).toBeUndefined();
  expect(share.index.get('/notes.txt')).toBeDefined();
  release();
  await share.settled();
  expect(share.index.get('/talks/a.pdf')).toEqual({
    path: '/talks/a.pdf', size: 5, mtime: expect.any(Number), type: 'application/pdf', sha256: SHA_OF_HELLO, price: 50, merkleRoot: plain.root,
  });
  expect(share.index.get('/notes.txt')!.price).toBeUndefined();
  const changed: string[] = [];
  share.index.onChange((changedPath) => changed.push(changedPath));
  share.setPrices(new PriceList([{ glob: 'talks/*.pdf', price: 70 }]));
  expect(share.index.get('/talks/a.pdf')!.price).toBe(70);
  expect(changed).toEqual(['/talks/a.pdf']);
  // No longer priced: listed as a free file, digest kept, nothing read again.
  share.setPrices(new PriceList([]));
  await share.settled();
  expect(share.index.get('/talks/a.pdf')).toEqual({ path: '/talks/a.pdf', size: 5, mtime: expect.any(Number), type: 'application/pdf', sha256: SHA_OF_HELLO });
  // A newly priced file that was hashed as a free one gets its root (one more read).
  share.setPrices(new PriceList([{ glob: '*.txt', price: 3 }]));
  await share.settled();
  expect(share.index.get('/notes.txt')).toMatchObject({ price: 3, merkleRoot: plain.root, sha256: SHA_OF_HELLO });
  expect(commits).toEqual(['a.pdf', 'notes.txt']);
});

test('a cache file from before prices gets its merkleRoot column and keeps its digests', async () => {
  const file = path.join(tempDir(), 'old.sqlite');
  const Open = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => { exec(sql: string): void; close(): void };
  const old = new Open(file);
  old.exec('CREATE TABLE fileHashes (version TEXT PRIMARY KEY, sha256 TEXT NOT NULL, seenAt INTEGER NOT NULL) WITHOUT ROWID');
  old.exec(`INSERT INTO fileHashes VALUES ('1:2:5:3', '${SHA_OF_HELLO}', ${Date.now()})`);
  old.close();
  const cache = openCache(file);
  expect(cache.problem).toBeNull();
  const version = { dev: 1, ino: 2, size: 5, mtimeMs: 3 };
  expect(cache.commitment(version)).toEqual({ sha256: SHA_OF_HELLO, merkleRoot: null });
  cache.put(version, SHA_OF_HELLO, 'ab'.repeat(32));
  cache.close();
  const reopened = openCache(file);
  expect(reopened.commitment(version)).toEqual({ sha256: SHA_OF_HELLO, merkleRoot: 'ab'.repeat(32) });
  // A digest alone (a free file again) does not erase the root.
  reopened.put(version, SHA_OF_HELLO);
  reopened.flush();
  reopened.forgetMemory();
  expect(reopened.commitment(version)).toEqual({ sha256: SHA_OF_HELLO, merkleRoot: 'ab'.repeat(32) });
});
