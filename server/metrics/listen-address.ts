import net from 'node:net';

/** A listener's address as `--metrics-listen` gives it. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * `127.0.0.1:9464`, `[::1]:9464`, `localhost:9464` or `0.0.0.0:9464` (port 0: any free one);
 * null for anything else. A host name other than `localhost` is refused: which address it
 * resolves to would decide who may read the metrics.
 */
export function parseListenAddress(value: string): ListenAddress | null {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+|localhost)):(\d{1,5})$/.exec(value.trim());
  if (match === null) return null;
  const host = match[1] ?? match[2]!;
  const port = Number(match[3]);
  if (port > 65535) return null;
  if (match[1] !== undefined ? !net.isIPv6(host) : host !== 'localhost' && !net.isIPv4(host)) return null;
  return { host, port };
}
