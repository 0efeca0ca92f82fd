import { fileURLToPath } from 'node:url';
import type { ProcessGroup } from './processes.js';

const START_TIMEOUT_MS = 15_000;

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
  const start = async (name: string, targetPort: number) => {
    const child = group.start(name, process.execPath, [script, String(targetPort)], { keepStdin: true, env: { ...process.env, NODE_OPTIONS: '' } });
    const match = await child.waitForLine(/^pipe relay listening on (\d+)$/, START_TIMEOUT_MS);
    return { port: Number(match[1]), child };
  };
  const second = await start('pipe relay (2)', options.originPort);
  const first = await start('pipe relay (1)', second.port);
  return {
    port: first.port,
    async stop() {
      await first.child.stop(3000);
      await second.child.stop(3000);
    },
  };
}
