import pino, { type Logger } from 'pino';

export type AgentLogger = Logger;

/** The agent's logger: JSON lines on stderr; `silent` unless the user asks for detail. */
export function createAgentLogger(level: string = 'silent'): AgentLogger {
  return pino({ name: 'udns-agent', level, redact: { paths: ['token', '*.token'], censor: '[redacted]' } }, pino.destination({ fd: 2, sync: false }));
}
