import { InvalidArgumentError, type Command } from 'commander';
import { parseListenAddress } from '../server/metrics/listen-address.js';

/** Parses a TCP port argument, naming the problem for commander's one-line error. */
export function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw new InvalidArgumentError(`port must be a number from 1 to 65535, got "${value}"`);
  }
  return Number(value);
}

/** Parses `--metrics-listen host:port` (the edge's and the agent's). */
export function parseMetricsListen(value: string): string {
  if (parseListenAddress(value) === null) throw new InvalidArgumentError(`must be host:port such as 127.0.0.1:9465 or [::1]:9465, got "${value}"`);
  return value;
}

/** Parses `--transport`. */
export function parseMux(value: string): 'frames' | 'http2' {
  if (value !== 'frames' && value !== 'http2') throw new InvalidArgumentError('use "frames" (default, fastest) or "http2" (what edges before frames spoke)');
  return value;
}

export function parseTransport(value: string): 'raw' | 'ws' {
  if (value !== 'raw' && value !== 'ws') throw new InvalidArgumentError('use "raw" (default, fastest) or "ws" (passes HTTP proxies)');
  return value;
}

const RECORD_TYPES = ['A', 'AAAA', 'TXT', 'CNAME'];

/** Parses a DNS record type (any case); the edge checks the value itself. */
export function parseRecordType(value: string): string {
  const type = value.toUpperCase();
  if (!RECORD_TYPES.includes(type)) throw new InvalidArgumentError(`record type must be A, AAAA, TXT or CNAME, got "${value}"`);
  return type;
}

/** Parses `--ttl` (seconds); the edge checks the range. */
export function parseTtl(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new InvalidArgumentError(`ttl must be a whole number of seconds, got "${value}"`);
  return Number(value);
}

/** The flags every command that calls the edge's API shares. */
export interface ApiFlags {
  server?: string;
  token?: string;
  tokenFile?: string;
}

/** Adds {@link ApiFlags} to a command. */
export function withApiFlags(command: Command): Command {
  return command
    .option('--server <url>', 'edge URL (default: from `udns login`)')
    .option('--token-file <file>', 'read the account token from this file (mode 0600; default: UDNS_TOKEN, else from `udns login`)')
    .option('--token <token>', 'account token; visible to every local user in ps: prefer --token-file or UDNS_TOKEN');
}
