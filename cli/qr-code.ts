import { encode } from 'uqr';

/** Light modules around the code: the QR spec asks for 4, phones read 2 and it saves rows. */
const QUIET_ZONE = 2;
const ESC = '\u001b[';

/**
 * The QR code of `text` (a public URL, for `--qr`) as terminal lines, two modules per line with
 * `▀`. On a terminal each cell gets explicit colours (black on white), so the code reads the
 * same on dark and light themes (a plain `█` code comes out inverted on a dark terminal, which
 * some phone scanners refuse); elsewhere (a file, `NO_COLOR`) plain block characters, dark on
 * the page.
 */
export function qrCodeLines(text: string, options: { colour: boolean }): string[] {
  const { data } = encode(text, { border: QUIET_ZONE });
  const dark = (row: number, column: number): boolean => data[row]?.[column] === true;
  const lines: string[] = [];
  for (let row = 0; row < data.length; row += 2) {
    let line = '';
    for (let column = 0; column < data[row]!.length; column++) {
      const top = dark(row, column);
      const bottom = dark(row + 1, column);
      if (options.colour) line += `${ESC}${top ? 30 : 97};${bottom ? 40 : 107}m▀`;
      else line += top && bottom ? '█' : top ? '▀' : bottom ? '▄' : ' ';
    }
    lines.push(options.colour ? `${line}${ESC}0m` : line);
  }
  return lines;
}

/** Whether `--qr` output on this stream gets colours (a terminal, and `NO_COLOR` unset). */
export function qrInColour(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && (env.NO_COLOR ?? '') === '';
}

/** Help line of `--qr` on `udns http`, `udns tcp` and `udns share`. */
export const QR_FLAG_HELP = 'also print a QR code of the public URL (to open it on a phone)';
