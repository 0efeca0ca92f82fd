import { InvalidArgumentError, type Command } from 'commander';

/** The request inspector's flags (`udns http`, `udns up`). */
export interface InspectFlags {
  /** false: `--inspect=false` or `--no-inspect`; undefined: the default, on. */
  inspect?: boolean;
  inspectPort?: number;
}

/** Parses `--inspect <bool>`. */
export function parseBool(value: string): boolean {
  const lower = value.toLowerCase();
  if (['true', 'yes', 'on', '1'].includes(lower)) return true;
  if (['false', 'no', 'off', '0'].includes(lower)) return false;
  throw new InvalidArgumentError(`use true or false, got "${value}"`);
}

function parseInspectPort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError(`port must be a number from 0 (any free one) to 65535, got "${value}"`);
  return Number(value);
}

/** Adds `--inspect <bool>`, `--no-inspect` and `--inspect-port <port>`. */
export function withInspectFlags(command: Command): Command {
  return command
    .option('--inspect <bool>', 'serve the request inspector on 127.0.0.1 (default true; --inspect=false turns it off)', parseBool)
    .option('--no-inspect', 'no request inspector (same as --inspect=false)')
    .option('--inspect-port <port>', 'port of the request inspector (default 4040, or the next free one)', parseInspectPort);
}

/** The agent's `inspect` option from the flags (and a config file's keys below them): null when off. */
export function inspectOption(flags: InspectFlags, file: InspectFlags = {}): { port: number; nextFreePort: boolean } | null {
  const on = flags.inspect ?? file.inspect ?? true;
  if (!on) return null;
  const port = flags.inspectPort ?? file.inspectPort;
  // The default port moves on when taken; a port asked for is that port or an error.
  return port === undefined ? { port: 4040, nextFreePort: true } : { port, nextFreePort: false };
}
