import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { UPLOAD_TEMP_PREFIX } from '../../agent/share/upload-writer.js';

/**
 * Every upload sent to the share in a run, and which of them the share acknowledged. Each
 * upload has a name of its own, so what is on disk under a name can only be that upload.
 */
export class UploadLedger {
  private readonly sent = new Map<string, { sha256: string; size: number; acked: boolean }>();

  /** Records an upload before it is sent. */
  attempt(name: string, body: Buffer): void {
    this.sent.set(name, { sha256: createHash('sha256').update(body).digest('hex'), size: body.length, acked: false });
  }

  /** The share answered success (201, or saved in the JSON answer). */
  ack(name: string): void {
    const entry = this.sent.get(name);
    if (entry) entry.acked = true;
  }

  get ackedCount(): number {
    return [...this.sent.values()].filter((entry) => entry.acked).length;
  }

  /**
   * Checks the upload folder against the ledger: every acknowledged upload is there, whole;
   * every file that is there is a whole upload (acknowledged or not: the agent may have died
   * between the rename and the answer), never a part. Returns violations and the hidden temp
   * files left behind (expected only after the share agent was killed mid-upload).
   */
  check(folder: string): { violations: string[]; tempFiles: string[] } {
    const violations: string[] = [];
    const entries = fs.readdirSync(folder);
    const present = new Set(entries);
    for (const [name, entry] of this.sent) {
      if (!entry.acked) continue;
      if (!present.has(name)) violations.push(`acknowledged upload ${name} is missing`);
    }
    for (const name of entries) {
      if (name.startsWith(UPLOAD_TEMP_PREFIX)) continue;
      const entry = this.sent.get(name);
      if (!entry) {
        violations.push(`unknown file ${name} in the upload folder`);
        continue;
      }
      const data = fs.readFileSync(path.join(folder, name));
      if (data.length !== entry.size || createHash('sha256').update(data).digest('hex') !== entry.sha256) {
        violations.push(`${name} is in place with ${data.length} of ${entry.size} bytes or different content${entry.acked ? ' (acknowledged)' : ''}`);
      }
    }
    return { violations, tempFiles: entries.filter((name) => name.startsWith(UPLOAD_TEMP_PREFIX)) };
  }
}
