import pino, { type Logger } from 'pino';
import { stderrLogDestination } from '../protocol/log-destination.js';

export type { Logger };

/** Log level names accepted by `--log-level`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** How the program running the edge wants its lines written. */
export interface LoggerOptions {
  /**
   * Rewrites each serialized (already redacted) JSON line before it is written, e.g. into a
   * short line for a terminal; absent, the JSON lines go out as they are.
   */
  formatLine?: (line: string) => string;
}

/**
 * The edge's root logger: JSON lines on stderr (stdout is for what the CLI prints to people),
 * or whatever `formatLine` makes of them. Children add per-tunnel / per-connection context.
 * Secrets are redacted by path as a last line of defence; code must not pass tokens to the
 * logger in the first place.
 */
export function createLogger(level: LogLevel, name = 'udns', options: LoggerOptions = {}): Logger {
  return pino(
    {
      name,
      level,
      redact: { paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
      ...(options.formatLine === undefined ? {} : { hooks: { streamWrite: options.formatLine } }),
    },
    stderrLogDestination(),
  );
}
