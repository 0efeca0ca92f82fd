import { PassThrough } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { isUdnsError } from '../../protocol/index.js';
import { canPrompt, promptPassword, type PromptInput } from './password-prompt.js';

/** A stand-in terminal: raw mode recorded, keystrokes written by the test. */
function terminal(): { input: PromptInput & PassThrough; output: PassThrough; rawModes: boolean[]; shown: () => string } {
  const rawModes: boolean[] = [];
  const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: (mode: boolean) => rawModes.push(mode) });
  const output = new PassThrough();
  let shown = '';
  output.on('data', (chunk: Buffer) => { shown += chunk; });
  return { input, output, rawModes, shown: () => shown };
}

describe('password prompt', () => {
  test('reads up to Enter in raw mode, echoes nothing typed, restores the terminal', async () => {
    const tty = terminal();
    const answer = promptPassword('password: ', tty.input, tty.output);
    tty.input.write('s3cr');
    tty.input.write('et 비밀\r');
    expect(await answer).toBe('s3cret 비밀');
    expect(tty.rawModes).toEqual([true, false]);
    expect(tty.shown()).toBe('password: \n');
  });

  test('Backspace erases the last character (a whole Korean syllable, not a byte)', async () => {
    const tty = terminal();
    const answer = promptPassword('pw: ', tty.input, tty.output);
    tty.input.write('abx\u007fc한\u007f\n');
    expect(await answer).toBe('abc');
  });

  test('Ctrl-C cancels with an error', async () => {
    const tty = terminal();
    const answer = promptPassword('pw: ', tty.input, tty.output);
    tty.input.write('ab\u0003');
    const error = await answer.catch((e: unknown) => e);
    expect(isUdnsError(error, 'unauthorized')).toBe(true);
    expect(tty.rawModes).toEqual([true, false]);
  });

  test('only a terminal that can turn echo off is prompted', () => {
    expect(canPrompt(terminal().input)).toBe(true);
    expect(canPrompt(new PassThrough())).toBe(false);
  });
});
