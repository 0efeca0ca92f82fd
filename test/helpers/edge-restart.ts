import { startEdgeProcess, type EdgeProcess } from './edge-process.js';

/**
 * Starts the edge again after `previous` died (a kill, a crash): same data dir, same HTTP port,
 * so agents and visitors find it where they left it. The admin token of the first start is
 * kept (a restart prints none). `extraArgs` should repeat those of the first start.
 */
export async function restartEdgeProcess(previous: EdgeProcess, extraArgs: string[] = []): Promise<EdgeProcess> {
  if (previous.alive()) throw new Error('the edge is still running');
  const edge = await startEdgeProcess([...extraArgs, '--http-port', String(previous.httpPort)], { dataDir: previous.dataDir });
  return { ...edge, adminToken: previous.adminToken };
}
