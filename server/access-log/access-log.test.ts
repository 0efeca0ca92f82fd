import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isUdnsError } from '../../protocol/index.js';
import { AccessLog } from './access-log.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-access-log-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** Every line of every file in `dir`, and each file's text. */
function readAll(dir: string): { lines: string[]; files: Map<string, string> } {
  const files = new Map<string, string>();
  const lines: string[] = [];
  for (const name of fs.readdirSync(dir)) {
    const text = fs.readFileSync(path.join(dir, name), 'utf8');
    files.set(name, text);
    lines.push(...text.split('\n').filter((line) => line !== ''));
  }
  return { lines, files };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('AccessLog', () => {
  it('rotation never loses, repeats or splits a line: 40 concurrent writers across many rotations', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'access.log');
    let written = 0;
    const log = new AccessLog({ file, maxBytes: 16 * 1024, keep: 1000, onLine: (ok) => { if (ok) written++; } });
    const writers = 40;
    const perWriter = 250;
    await Promise.all(Array.from({ length: writers }, async (_, writer) => {
      for (let i = 0; i < perWriter; i++) {
        // Lines of varying length, some far longer than others.
        log.write(JSON.stringify({ writer, i, pad: 'x'.repeat((writer * 7 + i * 13) % 300) }));
        if (i % 7 === 0) await turn();
      }
    }));
    await log.close();
    const { lines, files } = readAll(dir);
    expect(written).toBe(writers * perWriter);
    expect(lines).toHaveLength(writers * perWriter);
    const seen = new Set(lines.map((line) => {
      const parsed = JSON.parse(line) as { writer: number; i: number };
      return `${parsed.writer}/${parsed.i}`;
    }));
    expect(seen.size).toBe(writers * perWriter);
    expect(files.size).toBeGreaterThan(10);
    for (const [name, text] of files) {
      expect(text.endsWith('\n'), name).toBe(true);
      expect(Buffer.byteLength(text), name).toBeLessThanOrEqual(16 * 1024);
    }
    // Each writer's lines stay in the order written, across files (FILE.<n> oldest).
    const ordered = [...files.keys()].sort((a, b) => rank(b) - rank(a)).flatMap((name) => files.get(name)!.split('\n').filter(Boolean));
    const last = new Map<number, number>();
    for (const line of ordered) {
      const { writer, i } = JSON.parse(line) as { writer: number; i: number };
      expect(i).toBeGreaterThan(last.get(writer) ?? -1);
      last.set(writer, i);
    }
  });

  it('keeps only `keep` rotated files, and a line longer than the limit gets a file of its own', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'a.log');
    const log = new AccessLog({ file, maxBytes: 100, keep: 2 });
    for (let i = 0; i < 20; i++) log.write(`line ${i} ${'y'.repeat(30)}`);
    log.write('z'.repeat(500));
    log.write('after');
    await log.close();
    expect(fs.readdirSync(dir).sort()).toEqual(['a.log', 'a.log.1', 'a.log.2']);
    expect(fs.readFileSync(`${file}.1`, 'utf8')).toBe(`${'z'.repeat(500)}\n`);
    expect(fs.readFileSync(file, 'utf8')).toBe('after\n');
  });

  it('reopen (SIGHUP after logrotate moved the file) continues in a new file, losing nothing', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'access.log');
    const log = new AccessLog({ file, maxBytes: 0, keep: 0 });
    for (let i = 0; i < 500; i++) {
      log.write(`first ${i}`);
      if (i === 250) {
        fs.renameSync(file, `${file}.moved`);
        log.reopen();
      }
      if (i % 50 === 0) await turn();
    }
    for (let i = 0; i < 100; i++) log.write(`second ${i}`);
    await log.close();
    const { lines } = readAll(dir);
    expect(lines).toHaveLength(600);
    expect(new Set(lines).size).toBe(600);
    expect(fs.readFileSync(file, 'utf8')).toContain('second 99\n');
  });

  it('regression: - wrote only its first line (the writer loop never started again), and close() never returned', async () => {
    const written: string[] = [];
    const sink = Object.assign(new EventEmitter(), { write: (text: string): boolean => { written.push(text); return true; } });
    const log = new AccessLog({ file: '-', maxBytes: 0, keep: 0, stderr: sink, batchMs: 0 });
    for (let i = 0; i < 3; i++) {
      log.write(`line ${i}`);
      await turn();
    }
    await log.close();
    expect(written.join('')).toBe('line 0\nline 1\nline 2\n');
  });

  it('lines arriving within the batch delay share one write', async () => {
    const written: string[] = [];
    const sink = Object.assign(new EventEmitter(), { write: (text: string): boolean => { written.push(text); return true; } });
    const log = new AccessLog({ file: '-', maxBytes: 0, keep: 0, stderr: sink, batchMs: 5_000 });
    for (let i = 0; i < 3; i++) {
      log.write(`line ${i}`);
      await turn();
    }
    expect(written).toEqual([]);
    await log.flush();
    expect(written).toEqual(['line 0\nline 1\nline 2\n']);
    await log.close();
  });

  it('- waits for its stream to drain before writing more, in whole lines', async () => {
    const written: string[] = [];
    let full = true;
    const sink = Object.assign(new EventEmitter(), { write: (text: string): boolean => { written.push(text); return !full; } });
    const log = new AccessLog({ file: '-', maxBytes: 0, keep: 0, stderr: sink, batchMs: 0 });
    log.write('a');
    await turn();
    log.write('b');
    log.write('c');
    await turn();
    expect(written).toEqual(['a\n']);
    full = false;
    sink.emit('drain');
    await log.flush();
    expect(written).toEqual(['a\n', 'b\nc\n']);
  });

  it('a file that cannot be opened is a config error naming it', () => {
    const dir = tempDir();
    let caught: unknown;
    try {
      new AccessLog({ file: path.join(dir, 'missing-dir', 'x.log'), maxBytes: 0, keep: 0 });
    } catch (error) {
      caught = error;
    }
    expect(isUdnsError(caught, 'config_invalid')).toBe(true);
    expect((caught as Error).message).toMatch(/--access-log: cannot open .*missing-dir.*ENOENT/);
  });

  it('drops and counts lines beyond its queue bound instead of growing without end', async () => {
    const dir = tempDir();
    const outcomes = { written: 0, dropped: 0 };
    const log = new AccessLog({ file: path.join(dir, 'q.log'), maxBytes: 0, keep: 0, maxQueuedBytes: 1000, onLine: (ok) => { outcomes[ok ? 'written' : 'dropped']++; } });
    for (let i = 0; i < 200; i++) log.write('x'.repeat(99));
    await log.close();
    expect(outcomes.written + outcomes.dropped).toBe(200);
    expect(outcomes.dropped).toBeGreaterThan(0);
    expect(readAll(dir).lines).toHaveLength(outcomes.written);
  });
});

function rank(name: string): number {
  const match = /\.(\d+)$/.exec(name);
  return match === null ? 0 : Number(match[1]);
}
