import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { spawnCli, type CliProcess } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';

/*
 * The transfer port in `udns up` config files (`transferPort`, `transfers: false`, as
 * `udns share --transfer-port` / `--no-transfers`), and a first share added by a reload, with a
 * real `udns up` process (run `npx tsc -p tsconfig.build.json` first) and the real edge, whose
 * probe of the port is printed by the CLI ("transfers: direct reachable at …").
 */

/** A port free right now (the agent binds it a moment later). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('udns up and the transfer port', () => {
  let edge: TestEdge;
  let origin: Origin;
  let work: string;
  let cli: CliProcess | undefined;

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startHttpOrigin();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-up-transfers-'));
    fs.mkdirSync(path.join(work, 'share'));
    fs.writeFileSync(path.join(work, 'share', 'a.txt'), 'a\n');
  });
  afterEach(async () => {
    cli?.child.kill('SIGTERM');
    await cli?.exited;
    cli = undefined;
  });
  afterAll(async () => {
    await origin?.close();
    await edge?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  const writeConfig = (name: string, lines: string[]): string => {
    const file = path.join(work, name);
    fs.writeFileSync(file, [`server: ${edge.serverUrl}`, 'routes:', ...lines, ''].join('\n'), { mode: 0o600 });
    return file;
  };
  const askTicket = async (url: string): Promise<{ status: number; message: string }> => {
    const res = await fetch(`${edge.serverUrl}/api/v1/transfers`, {
      method: 'POST', headers: { authorization: `Bearer ${edge.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ url, via: 'direct' }),
    });
    return { status: res.status, message: String(((await res.json()) as { error?: { message?: string } }).error?.message ?? '') };
  };

  test('transferPort: the shares\' transfer port is the one the file names', async () => {
    const port = await freePort();
    const config = writeConfig('port.yml', [`  - share: ${path.join(work, 'share')}`, '    name: port-share', `transferPort: ${port}`]);
    cli = spawnCli(['up', '--config', config], { UDNS_TOKEN: edge.adminToken });
    await cli.waitForOutput(/port-share.* -> /);
    await eventually('the edge\'s probe of the transfer port', () => new RegExp(`transfers: direct reachable at [^\\s]+:${port}\\n`).exec(cli!.stderr()) ?? undefined);
  }, 60_000);

  test('transfers: false: no transfer port, the edge refuses a direct ticket for the share', async () => {
    const config = writeConfig('off.yml', [`  - share: ${path.join(work, 'share')}`, '    name: relay-share', 'transfers: false']);
    cli = spawnCli(['up', '--config', config], { UDNS_TOKEN: edge.adminToken });
    const out = await cli.waitForOutput(/relay-share.* -> /);
    const url = out.split('\n').find((line) => line.includes('relay-share'))!.split(' -> ')[0]!.trim();
    const refused = await askTicket(`${url}/a.txt`);
    expect(refused.status).toBe(409);
    expect(refused.message).toMatch(/does not offer direct or push transfers/);
  }, 60_000);

  test('a first share added by a reload gets a transfer port (the agent started without one)', async () => {
    const head = ['  - http: ' + origin.port, '    name: only-http'];
    const config = writeConfig('reload.yml', head);
    cli = spawnCli(['up', '--config', config], { UDNS_TOKEN: edge.adminToken });
    await cli.waitForOutput(/only-http.* -> /);
    // Written again until seen: udns up prints its URLs just before it starts watching the file.
    await eventually('the share added by the reload', () => {
      if (/late-share.* -> /.test(cli!.stdout())) return true;
      writeConfig('reload.yml', [...head, `  - share: ${path.join(work, 'share')}`, '    name: late-share']);
      return undefined;
    }, { intervalMs: 500 });
    await eventually('the edge\'s probe of the new transfer port', () => /transfers: direct reachable at [^\s]+:\d+\n/.exec(cli!.stderr()) ?? undefined);
    const url = cli.stdout().split('\n').find((line) => line.includes('late-share'))!.split(' -> ')[0]!.trim();
    const ticket = await askTicket(`${url}/a.txt`);
    expect(ticket.status).toBe(200);
  }, 60_000);
});
