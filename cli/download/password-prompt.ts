import { UdnsError } from '../../protocol/index.js';

/** The parts of a terminal the prompt uses (process.stdin in real life). */
export interface PromptInput extends NodeJS.ReadableStream {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

/** Whether a password can be asked for: stdin is a terminal that can turn echo off. */
export function canPrompt(input: PromptInput = process.stdin): boolean {
  return input.isTTY === true && typeof input.setRawMode === 'function';
}

/**
 * Asks for a password on the terminal without echoing it: raw mode, so the typed characters
 * are never shown (not even as `*`, which would tell a shoulder-surfer the length). Enter
 * ends it, Backspace erases, Ctrl-C / Ctrl-D on an empty line cancel.
 */
export function promptPassword(question: string, input: PromptInput = process.stdin, output: NodeJS.WritableStream = process.stderr): Promise<string> {
  return new Promise((resolve, reject) => {
    let typed = '';
    // Raw mode first: a token pasted the moment the question shows must not be echoed.
    input.setRawMode?.(true);
    output.write(question);
    input.setEncoding('utf8');
    const finish = (error: UdnsError | null): void => {
      input.off('data', onData);
      input.setRawMode?.(false);
      input.pause();
      output.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (data: string | Buffer): void => {
      for (const char of String(data)) {
        if (char === '\r' || char === '\n') return finish(null);
        if (char === '\u0003' || (char === '\u0004' && typed === '')) return finish(new UdnsError('unauthorized', 'no password given'));
        if (char === '\u007f' || char === '\b') typed = [...typed].slice(0, -1).join('');
        else if (char >= ' ') typed += char;
      }
    };
    input.on('data', onData);
    input.resume();
  });
}
