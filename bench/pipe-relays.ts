import { fileURLToPath } from 'node:url';
import { startHelperServer, type ProcessGroup } from './processes.js';

/** Two bare Node relays in a row in front of the origin (see pipe-relay-server.ts). */
export interface PipeRelays {
  /** The first relay's port, on 127.0.0.1. */
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts `pipe relay 2` (to the origin) and `pipe relay 1` (to relay 2) as two processes: visitor
 * → relay 1 → relay 2 → origin, the shape of a tunnel (visitor → edge → agent → origin) with
 * nothing but Node's own sockets in it.
 */
export async function startPipeRelays(group: ProcessGroup, options: { originPort: number }): Promise<PipeRelays> {
  const script = fileURLToPath(new URL('./pipe-relay-server.js', import.meta.url));
  const start = (name: string, targetPort: number) => startHelperServer(group, name, script, [String(targetPort)], /^pipe relay listening on (\d+)$/);
  const second = await start('pipe relay (2)', options.originPort);
  const first = await start('pipe relay (1)', second.port);
  return {
    port: first.port,
    async stop() {
      await first.process.stop(3000);
      await second.process.stop(3000);
    },
  };
}
