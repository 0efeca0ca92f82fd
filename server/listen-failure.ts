import { once } from 'node:events';
import type net from 'node:net';
import { UdnsError } from '../protocol/index.js';

/** A listener of the edge and the setting that chose its port, named when it cannot bind. */
export interface ListenerSetting {
  /** What listens, as people call it: `HTTP`, `HTTPS`, `DNS`. */
  readonly what: string;
  /** The flag of `udns server` that sets its port. */
  readonly flag: string;
  /** The environment variable that sets it too. */
  readonly env: string;
}

export const HTTP_LISTENER: ListenerSetting = { what: 'HTTP', flag: '--http-port', env: 'UDNS_HTTP_PORT' };
export const HTTPS_LISTENER: ListenerSetting = { what: 'HTTPS', flag: '--https-port', env: 'UDNS_HTTPS_PORT' };
export const DNS_LISTENER: ListenerSetting = { what: 'DNS', flag: '--dns-port', env: 'UDNS_DNS_PORT' };

/**
 * A bind failure as one line that names the port and what to change: a second `npm start`
 * used to end with `unexpected error: listen EADDRINUSE …` and no hint of the flag.
 */
export function listenFailure(setting: ListenerSetting, bind: string, port: number, cause: unknown): UdnsError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const where = `cannot listen for ${setting.what} on ${bind} port ${port}`;
  const change = `choose another port with ${setting.flag} <port> or ${setting.env}`;
  const reason = code === 'EADDRINUSE' ? `another program uses it (an edge already running?); ${change}`
    : code === 'EACCES' ? `ports below 1024 need root or CAP_NET_BIND_SERVICE; ${change}`
      : code === 'EADDRNOTAVAIL' ? `${bind} is not an address of this machine; change --bind or UDNS_BIND`
        : `${code ?? (cause as Error | undefined)?.message ?? String(cause)}; ${change}`;
  return new UdnsError('port_unavailable', `${where}: ${reason}`, { cause });
}

/**
 * Listens and resolves with the bound port, or rejects with {@link listenFailure}'s error.
 * @throws UdnsError `port_unavailable`
 */
export async function listenOrExplain(server: net.Server, port: number, bind: string, setting: ListenerSetting): Promise<number> {
  server.listen({ port, host: bind });
  try {
    await once(server, 'listening');
  } catch (error) {
    throw listenFailure(setting, bind, port, error);
  }
  return (server.address() as net.AddressInfo).port;
}
