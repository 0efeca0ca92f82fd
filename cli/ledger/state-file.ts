import fs from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { UdnsError } from '../../protocol/errors.js';

/**
 * A small JSON state file of the ledger commands (`udns ledger verify`'s pinned key and last
 * head, `udns ledger audit`'s memory of heads): null when absent, the parsed value when it
 * matches `schema`. @throws UdnsError config_invalid for an unreadable or damaged file, saying
 * `whenDamaged` (what to do about it)
 */
export function readStateFile<T>(file: string, schema: z.ZodType<T>, whenDamaged: string): T | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UdnsError('config_invalid', `cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // A damaged file, reported below.
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new UdnsError('config_invalid', `${file} is damaged: ${whenDamaged}`);
  return parsed.data;
}

/** Writes it whole (a temporary file renamed over the old one), mode 0600, in a 0700 folder. */
export function writeStateFile(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, text, { mode: 0o600 });
  fs.renameSync(temporary, file);
}
