import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { UdnsError } from '../../protocol/errors.js';
import { readStateFile, writeStateFile } from './state-file.js';
import { SignedTreeHead } from '../../protocol/ledger.js';
import { KeyId, PublicKeyText } from '../../protocol/signing.js';

/**
 * What `udns ledger verify` remembers about one edge: the ledger key it pinned the first time
 * (trust on first use) and the newest signed head it checked, so the next run can demand a
 * consistency proof from there.
 */
export const LedgerState = z.object({
  v: z.literal(1),
  server: z.string(),
  keyId: KeyId,
  publicKey: PublicKeyText,
  /** ISO time of the first use. */
  pinnedAt: z.string(),
  head: SignedTreeHead.nullable(),
  /** ISO time of the last successful verification. */
  verifiedAt: z.string().nullable(),
}).strict();
export type LedgerState = z.infer<typeof LedgerState>;

/** `$XDG_STATE_HOME/udns/ledger-<host>.json`, else `~/.local/state/udns/…`. */
export function ledgerStatePath(server: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  let host: string;
  try {
    host = new URL(server).host;
  } catch {
    throw new UdnsError('config_invalid', `invalid server URL "${server}": use e.g. http://localhost:8080`);
  }
  return path.join(base, 'udns', `ledger-${host.toLowerCase().replace(/[^a-z0-9.-]/g, '_')}.json`);
}

/** The saved state, or null the first time. @throws UdnsError config_invalid for a damaged file */
export function readLedgerState(file: string): LedgerState | null {
  return readStateFile(file, LedgerState, 'remove it to pin the edge\'s ledger key again (trust on first use)');
}

/** Writes the state whole (a temporary file renamed over the old one), mode 0600. */
export function writeLedgerState(file: string, state: LedgerState): void {
  writeStateFile(file, `${JSON.stringify(state, null, 2)}\n`);
}
