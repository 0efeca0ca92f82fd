import { PassThrough } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { createDownloadProgress, formatBytes, formatDuration } from './download-progress.js';

function capture(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const stream = Object.assign(new PassThrough(), { isTTY, columns: 120 }) as unknown as NodeJS.WriteStream;
  let text = '';
  (stream as unknown as PassThrough).on('data', (chunk: Buffer) => { text += chunk; });
  return { stream, text: () => text };
}

describe('download progress', () => {
  test('not a terminal: one line at start and one at the end, however many updates', () => {
    const out = capture(false);
    const progress = createDownloadProgress({ enabled: true, stream: out.stream });
    progress.start('한글 파일.bin', 3 * 1024 * 1024, 0);
    for (let i = 1; i <= 1000; i++) progress.update(i * 3145);
    progress.note('connection lost; retrying in 0.5 s (1/10)');
    progress.finish(3 * 1024 * 1024);
    const lines = out.text().trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe('udns: downloading 한글 파일.bin (3.0 MiB)');
    expect(lines[1]).toBe('udns: connection lost; retrying in 0.5 s (1/10)');
    expect(lines[2]).toMatch(/^udns: received 한글 파일\.bin: 3\.0 MiB in \d+\.\d s \(.+\/s\)$/);
  });

  test('a resumed transfer says where it resumes', () => {
    const out = capture(false);
    const progress = createDownloadProgress({ enabled: true, stream: out.stream });
    progress.start('a.bin', 2048, 1024);
    expect(out.text()).toBe('udns: resuming a.bin at 1.0 KiB of 2.0 KiB\n');
  });

  test('--no-progress: notes only', () => {
    const out = capture(true);
    const progress = createDownloadProgress({ enabled: false, stream: out.stream });
    progress.start('a.bin', 10, 0);
    progress.update(5);
    progress.note('retrying');
    progress.finish(10);
    expect(out.text()).toBe('udns: retrying\n');
  });

  test('a terminal gets a bar with size, speed and ETA, and notes above it', () => {
    const out = capture(true);
    const progress = createDownloadProgress({ enabled: true, stream: out.stream });
    progress.start('a.bin', 10 * 1024 * 1024, 0);
    progress.update(5 * 1024 * 1024);
    progress.note('connection lost');
    progress.finish(10 * 1024 * 1024);
    expect(out.text()).toMatch(/a\.bin .+ 100% \| 10 MiB \/ 10 MiB \| .+\/s \| ETA /);
    expect(out.text()).toContain('udns: connection lost\n');
  });

  test('a transfer of unknown size (a ZIP) shows bytes and speed', () => {
    const out = capture(true);
    const progress = createDownloadProgress({ enabled: true, stream: out.stream });
    progress.start('photos.zip', undefined, 0);
    progress.finish(1536);
    expect(out.text()).toMatch(/photos\.zip {2}1\.5 KiB {2}.+\/s/);
  });
});

test('human sizes and durations', () => {
  expect(formatBytes(0)).toBe('0 B');
  expect(formatBytes(1023)).toBe('1023 B');
  expect(formatBytes(1536)).toBe('1.5 KiB');
  expect(formatBytes(1024 ** 3)).toBe('1.0 GiB');
  expect(formatBytes(200 * 1024 ** 2)).toBe('200 MiB');
  expect(formatDuration(42.4)).toBe('42s');
  expect(formatDuration(185)).toBe('3m05s');
  expect(formatDuration(7800)).toBe('2h10m');
});
