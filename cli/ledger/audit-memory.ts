import { z } from 'zod';
import { readStateFile, writeStateFile } from './state-file.js';

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
  return readStateFile(file, Memory, 'restore it, or remove it (the audit then cannot tell whether a head seen before was deleted)');
}

/** Writes the memory whole (temporary file renamed over the old one), mode 0600. */
export function writeAuditMemory(file: string, memory: Memory): void {
  writeStateFile(file, `${JSON.stringify(memory)}\n`);
}
