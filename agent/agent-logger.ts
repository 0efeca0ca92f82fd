import pino, { type Logger } from 'pino';
import { stderrLogDestination } from '../protocol/log-destination.js';

export type AgentLogger = Logger;

/**
 * The agent's logger: JSON lines on stderr, or whatever `formatLine` makes of each serialized
 * (already redacted) line, e.g. a short line for a terminal; `silent` unless the user asks for
 * detail.
 */
export function createAgentLogger(level: string = 'silent', options: { formatLine?: (line: string) => string } = {}): AgentLogger {
  return pino({
    name: 'udns-agent',
    level,
    redact: { paths: ['token', '*.token'], censor: '[redacted]' },
    ...(options.formatLine === undefined ? {} : { hooks: { streamWrite: options.formatLine } }),
  }, stderrLogDestination());
}
