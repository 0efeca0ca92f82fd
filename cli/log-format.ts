import { UdnsError } from '../protocol/index.js';

/** What `--log-format` accepts: short lines for people, or pino's JSON lines for machines. */
export const LOG_FORMATS = ['pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Turns one serialized pino line (JSON, ending in a newline) into what goes on stderr. */
export type LineFormatter = (line: string) => string;

/**
 * `--log-format` over `UDNS_LOG_FORMAT`; without either, pretty when stderr is a terminal and
 * JSON otherwise (journald, a container log, a pipe into jq keep one object per line).
 */
export function resolveLogFormat(flag: string | undefined, env: NodeJS.ProcessEnv, stderrIsTty: boolean): LogFormat {
  const given = flag ?? (env.UDNS_LOG_FORMAT === '' ? undefined : env.UDNS_LOG_FORMAT);
  if (given === undefined) return stderrIsTty ? 'pretty' : 'json';
  if ((LOG_FORMATS as readonly string[]).includes(given)) return given as LogFormat;
  const source = flag !== undefined ? '--log-format' : 'UDNS_LOG_FORMAT';
  throw new UdnsError('config_invalid', `${source} must be pretty or json, not '${given}'`);
}

/**
 * The line formatter for a format, or undefined for JSON (pino's own lines, untouched). Colour
 * only on a terminal, and never with NO_COLOR set (https://no-color.org).
 */
export function lineFormatterFor(format: LogFormat, env: NodeJS.ProcessEnv, stderrIsTty: boolean): LineFormatter | undefined {
  if (format === 'json') return undefined;
  const color = stderrIsTty && (env.NO_COLOR === undefined || env.NO_COLOR === '');
  return (line) => prettyLogLine(line, color);
}

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: 'TRACE', color: '\x1b[90m' },
  20: { name: 'DEBUG', color: '\x1b[36m' },
  30: { name: 'INFO ', color: '\x1b[32m' },
  40: { name: 'WARN ', color: '\x1b[33m' },
  50: { name: 'ERROR', color: '\x1b[31m' },
  60: { name: 'FATAL', color: '\x1b[35m' },
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';

/** pino's own fields, shown as the time and level or not at all. */
const OWN_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name', 'v']);
/** Never shown, even if a caller forgot the rule and pino's redaction paths missed it. */
const SECRET_KEY = /token|authorization|password|secret/i;
/** Connection and tunnel ids: long random strings whose first characters tell them apart. */
const LONG_ID = /^[0-9a-f-]{16,}$/i;

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

function showValue(key: string, value: unknown): string {
  if (SECRET_KEY.test(key) && value !== '[redacted]') return '[redacted]';
  if (typeof value === 'string') {
    if (LONG_ID.test(value)) return `${value.slice(0, 8)}…`;
    // Quoted only when needed, escaped by JSON so a newline in a value never breaks the line.
    return /^[^\s"=\\\x00-\x1f\x7f]+$/.test(value) ? value : JSON.stringify(value);
  }
  if (value !== null && typeof value === 'object') {
    const error = value as { message?: unknown; code?: unknown; type?: unknown };
    // An error in one line: its message (and code), not the stack (`--log-format json` has it).
    if (typeof error.message === 'string' && (key === 'err' || key === 'error' || typeof error.type === 'string')) {
      return JSON.stringify(typeof error.code === 'string' ? `${error.message} (${error.code})` : error.message);
    }
    return JSON.stringify(value, (k, v: unknown) => (k !== '' && SECRET_KEY.test(k) && v !== '[redacted]' ? '[redacted]' : v));
  }
  return String(value);
}

/**
 * One short line per event: `12:03:04 INFO  tunnel up  account=alice tunnel=3f2a9c01…`. The
 * time is local (the person reading it is at this PC); fields follow as key=value, objects as
 * compact JSON, so an event is always one line. A line that is not pino JSON passes unchanged.
 */
export function prettyLogLine(line: string, color: boolean): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (entry === null || typeof entry !== 'object') return line;
  const at = typeof entry.time === 'number' ? new Date(entry.time) : new Date();
  const time = `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
  const level = LEVELS[entry.level as number] ?? { name: String(entry.level).toUpperCase().padEnd(5), color: '' };
  const fields = Object.entries(entry)
    .filter(([key, value]) => !OWN_FIELDS.has(key) && value !== undefined)
    .map(([key, value]) => `${key}=${showValue(key, value)}`)
    .join(' ');
  const msg = typeof entry.msg === 'string' ? entry.msg.replace(/[\r\n]+/g, ' ') : '';
  const head = color ? `${DIM}${time}${RESET} ${level.color}${level.name}${RESET}` : `${time} ${level.name}`;
  const tail = fields === '' ? '' : color ? `  ${DIM}${fields}${RESET}` : `  ${fields}`;
  return `${head} ${msg}${tail}\n`;
}
