import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { UdnsError } from '../../protocol/errors.js';

/**
 * The signed heads `udns ledger audit` saw last time (server/ledger/ledger-audit.ts AuditMemory,
 * repeated here so the CLI does not load the server's modules to read a file).
 */
const Memory = z.object({
  v: z.literal(1),
  heads: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])),
}).strict();
type Memory = z.infer<typeof Memory>;

/** The previous audit's memory, or null the first time. @throws UdnsError config_invalid for a damaged file */
export function readAuditMemory(file: string): Memory | null {
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
    // Reported below.
  }
  const parsed = Memory.safeParse(json);
  if (!parsed.success) throw new UdnsError('config_invalid', `${file} is damaged: restore it, or remove it (the audit then cannot tell whether a head seen before was deleted)`);
  return parsed.data;
}

/** Writes the memory whole (temporary file renamed over the old one), mode 0600. */
export function writeAuditMemory(file: string, memory: Memory): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(memory)}\n`, { mode: 0o600 });
  fs.renameSync(temporary, file);
}
