import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Writes `token` to a fresh file of `mode` (0600 by default) for `--token-file`, the way CLI
 * tests pass a token without `--token` (which warns on stderr) or an environment change.
 */
export function writeTokenFile(token: string, mode = 0o600): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'udns-token-')), 'token');
  fs.writeFileSync(file, `${token}\n`, { mode });
  // The umask may have taken bits away from `mode`: a test of a 0644 file needs exactly that.
  fs.chmodSync(file, mode);
  return file;
}
