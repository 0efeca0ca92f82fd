import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { openToOthers, parseTokenText, readTokenFile, readTokenFromStream } from './token-source.js';

const TOKEN = `udns_${'A'.repeat(43)}`;

function tokenFile(content: string, mode: number): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'udns-token-src-')), 'token');
  fs.writeFileSync(file, content);
  fs.chmodSync(file, mode);
  return file;
}

function messageOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return (error as Error).message;
  }
  return 'no error';
}

describe('reading a token without argv', () => {
  test('a 0600 or 0400 file gives its one token, final newline dropped', () => {
    expect(readTokenFile(tokenFile(`${TOKEN}\n`, 0o600))).toBe(TOKEN);
    expect(readTokenFile(tokenFile(TOKEN, 0o400))).toBe(TOKEN);
  });

  test.each(['0644', '0640', '0604', '0620'])('a file of mode %s is refused like an ssh key, with the fix and without the token', (mode) => {
    const file = tokenFile(`${TOKEN}\n`, parseInt(mode, 8));
    const message = messageOf(() => readTokenFile(file));
    expect(message).toBe(`--token-file ${file} is open to other users (mode ${mode}): run \`chmod 600 ${file}\``);
    expect(openToOthers(file)).toBe(mode);
  });

  test('Windows mode bits mean nothing: not checked there', () => {
    expect(readTokenFile(tokenFile(TOKEN, 0o644), 'win32')).toBe(TOKEN);
    expect(openToOthers(tokenFile(TOKEN, 0o644), 'win32')).toBeNull();
  });

  test('what is not one token is refused without echoing it', () => {
    expect(messageOf(() => parseTokenText(Buffer.from(' \n'), 'stdin'))).toBe('stdin is empty: it should hold one token (udns_…)');
    const two = messageOf(() => parseTokenText(Buffer.from(`${TOKEN}\nudns_secondsecret\n`), 'stdin'));
    expect(two).toBe('stdin holds more than one word: it should hold one token (udns_…)');
    expect(messageOf(() => parseTokenText(Buffer.alloc(5000, 'a'), 'stdin'))).toMatch(/too long/);
    expect(messageOf(() => readTokenFile('/nonexistent/token'))).toBe('cannot read --token-file /nonexistent/token: ENOENT');
  });

  test('a token piped into stdin', async () => {
    expect(await readTokenFromStream(Readable.from([Buffer.from('udns_'), Buffer.from(`${'A'.repeat(43)}\r\n`)]))).toBe(TOKEN);
  });
});
