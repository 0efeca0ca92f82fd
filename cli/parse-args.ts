import { InvalidArgumentError } from 'commander';

/** Parses a TCP port argument, naming the problem for commander's one-line error. */
export function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw new InvalidArgumentError(`port must be a number from 1 to 65535, got "${value}"`);
  }
  return Number(value);
}

/** Parses `--transport`. */
export function parseTransport(value: string): 'raw' | 'ws' {
  if (value !== 'raw' && value !== 'ws') throw new InvalidArgumentError('use "raw" (default, fastest) or "ws" (passes HTTP proxies)');
  return value;
}
