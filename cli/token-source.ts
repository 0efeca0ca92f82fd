import fs from 'node:fs';
import { UdnsError } from '../protocol/index.js';

/** More than any token; a bigger file or stream is not a token file. */
const MAX_TOKEN_TEXT_BYTES = 4096;

/** Printed (once) when a token came in through `--token`, where every local user can see it. */
export const TOKEN_FLAG_WARNING = '--token is visible to every user of this PC (ps, /proc); use --token-file <file>, UDNS_TOKEN or `udns login` instead';

/**
 * Reads a token from a file, refusing a regular file that other users may read or write, as ssh
 * refuses such a private key: a token gives its account's names, records and tunnels. Pipes
 * (`--token-file <(pass udns)`) and Windows, whose mode bits mean nothing, are not checked.
 * @throws UdnsError `config_invalid` naming the file and the fix; never showing its content
 */
export function readTokenFile(file: string, platform: NodeJS.Platform = process.platform): string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (error) {
    throw new UdnsError('config_invalid', `cannot read --token-file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    // fstat of the open file: the mode checked is the mode of what is read.
    const stat = fs.fstatSync(fd);
    const mode = stat.isFile() ? exposedMode(stat, platform) : null;
    if (mode !== null) throw new UdnsError('config_invalid', `--token-file ${file} is open to other users (mode ${mode}): run \`chmod 600 ${file}\``);
    const buffer = Buffer.alloc(MAX_TOKEN_TEXT_BYTES + 1);
    let length = 0;
    for (let read = -1; read !== 0 && length < buffer.length;) {
      read = fs.readSync(fd, buffer, length, buffer.length - length, null);
      length += read;
    }
    return parseTokenText(buffer.subarray(0, length), `--token-file ${file}`);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The mode of `file` when other users may read or write it (a config file holding a token),
 * else null. Windows mode bits mean nothing, so it is never flagged there.
 */
export function openToOthers(file: string, platform: NodeJS.Platform = process.platform): string | null {
  try {
    return exposedMode(fs.statSync(file), platform);
  } catch {
    return null;
  }
}

/** `0644` when group or others have any access (ssh's rule for keys), else null. */
function exposedMode(stat: fs.Stats, platform: NodeJS.Platform): string | null {
  if (platform === 'win32' || (stat.mode & 0o077) === 0) return null;
  return (stat.mode & 0o777).toString(8).padStart(4, '0');
}

/** Reads a token piped into stdin (`udns login - < file`). */
export async function readTokenFromStream(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of input) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    chunks.push(buffer);
    length += buffer.length;
    if (length > MAX_TOKEN_TEXT_BYTES) break;
  }
  return parseTokenText(Buffer.concat(chunks), 'stdin');
}

/**
 * The one token in a file's or a stream's text: surrounding white space (a final newline) is
 * dropped; anything else is refused without echoing it, since it may be a secret of another kind.
 */
export function parseTokenText(text: Buffer, source: string): string {
  if (text.length > MAX_TOKEN_TEXT_BYTES) throw new UdnsError('config_invalid', `${source} is too long for a token: it should hold one token (udns_…)`);
  const token = text.toString('utf8').trim();
  if (token === '') throw new UdnsError('config_invalid', `${source} is empty: it should hold one token (udns_…)`);
  if (/\s/.test(token)) throw new UdnsError('config_invalid', `${source} holds more than one word: it should hold one token (udns_…)`);
  return token;
}
