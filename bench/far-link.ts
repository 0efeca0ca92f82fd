import { fileURLToPath } from 'node:url';
import { startHelperServer, type ProcessGroup } from './processes.js';

/** A delaying TCP relay in front of a loopback port: the long link of a far path. */
export interface FarLink {
  /** Connect here instead of the target to cross the link. */
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts bench/delay-proxy.ts as its own process (delay-proxy-server.ts), relaying to
 * 127.0.0.1:`targetPort` and delaying every chunk by `oneWayDelayMs` in each direction: this
 * kernel has no `tc netem`, so the benchmark makes the distance itself. The process's CPU is
 * reported as "delay proxy", apart from the tunnel's.
 */
export async function startFarLink(group: ProcessGroup, options: { targetPort: number; oneWayDelayMs: number; name: string }): Promise<FarLink> {
  const script = fileURLToPath(new URL('./delay-proxy-server.js', import.meta.url));
  const proxy = await startHelperServer(group, options.name, script, [String(options.targetPort), String(options.oneWayDelayMs)], /^delay proxy listening on (\d+)$/);
  return { port: proxy.port, stop: () => proxy.process.stop(3000) };
}
