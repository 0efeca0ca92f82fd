import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What `unzip` makes of some bytes: refused, or accepted and then whole or short. */
export type ZipVerdict = 'refused' | 'whole' | 'short';

/**
 * Writes `data` to a temp file and asks Info-ZIP's `unzip -t` (CRC of every member checked).
 * When it accepts the archive, the members are extracted and compared with `expected` (name →
 * SHA-256): all there and identical is 'whole', anything less is 'short' (a ZIP that passes
 * the test but lacks files is exactly what a visitor must never be handed).
 */
export async function judgeZip(data: Buffer, expected: ReadonlyMap<string, string>): Promise<ZipVerdict> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-zip-check-'));
  try {
    const file = path.join(dir, 'got.zip');
    fs.writeFileSync(file, data);
    return await judgeZipFile(file, expected, dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** {@link judgeZip} for a ZIP already on disk (what `udns get` saved). */
export async function judgeZipFile(file: string, expected: ReadonlyMap<string, string>, scratch?: string): Promise<ZipVerdict> {
  const tested = await run('unzip', ['-tqq', file]).then(() => true, () => false);
  if (!tested) return 'refused';
  const dir = scratch ?? fs.mkdtempSync(path.join(os.tmpdir(), 'udns-zip-check-'));
  const out = path.join(dir, 'extracted');
  try {
    await run('unzip', ['-qq', '-o', file, '-d', out]);
    const found = new Map<string, string>();
    for (const name of fs.readdirSync(out, { recursive: true }) as string[]) {
      const full = path.join(out, name);
      if (fs.statSync(full).isFile()) found.set(name, createHash('sha256').update(fs.readFileSync(full)).digest('hex'));
    }
    const whole = found.size === expected.size && [...expected].every(([name, sha]) => found.get(name) === sha);
    return whole ? 'whole' : 'short';
  } finally {
    fs.rmSync(scratch === undefined ? dir : out, { recursive: true, force: true });
  }
}
