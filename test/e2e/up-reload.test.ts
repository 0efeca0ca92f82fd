import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { patternSha256, startHttpOrigin, type Origin } from '../helpers/origins.js';
import { makeShareFixture, type ShareFixture } from '../helpers/share-fixtures.js';
import { spawnCli, type CliProcess } from '../helpers/test-agent.js';
import { startTestEdge, type TestEdge } from '../helpers/test-edge.js';
import { hostFor, visit } from '../helpers/visitor.js';

const DOWNLOAD_BYTES = 64 * 1024 * 1024;

describe('udns up applies edits of its config file live', () => {
  let edge: TestEdge;
  let origin: Origin;
  let fixture: ShareFixture;
  let cli: CliProcess | undefined;

  beforeAll(async () => {
    edge = await startTestEdge();
    origin = await startHttpOrigin();
    fixture = makeShareFixture();
  });
  afterAll(async () => {
    cli?.child.kill('SIGTERM');
    await origin?.close();
    await edge?.close();
    fixture?.cleanup();
  });

  test('a share added and an http route removed while a download through a third route carries on; an invalid edit is reported and ignored', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-up-reload-'));
    const config = path.join(dir, 'agent.yml');
    const head = [`server: ${edge.serverUrl}`, `token: ${edge.adminToken}`, 'routes:', `  - http: ${origin.port}`, '    name: stays'];
    fs.writeFileSync(config, [...head, `  - http: ${origin.port}`, '    name: leaves', '    local-host: 127.0.0.1', ''].join('\n'));
    fs.chmodSync(config, 0o600);
    cli = spawnCli(['up', '--config', config]);
    await cli.waitForOutput(/leaves.* -> /);
    expect((await visit(edge, 'leaves', '/echo')).status).toBe(200);
    // The first format's kebab-case keys still work, with a nudge to the one convention.
    expect(cli.stderr()).toContain('"local-host" is deprecated, write "localHost"');
    const tunnelBefore = (JSON.parse((await visit(edge, null, '/api/v1/me', { headers: { authorization: `Bearer ${edge.adminToken}` } })).body) as { tunnels: Array<{ id: string }> }).tunnels[0]!.id;

    // A long download through "stays", held still by not reading, so it is mid-way during the edit.
    const request = http.get({ host: '127.0.0.1', port: edge.edge.httpPort, path: `/bytes/${DOWNLOAD_BYTES}`, agent: false, headers: { host: hostFor(edge, 'stays') } });
    const [response] = await once(request, 'response') as [http.IncomingMessage];
    const hash = createHash('sha256');
    let received = 0;
    response.on('data', (chunk: Buffer) => { hash.update(chunk); received += chunk.length; });
    response.pause();
    const finished = new Promise<void>((resolve, reject) => {
      response.on('end', () => (response.complete ? resolve() : reject(new Error('download ended short'))));
      response.on('error', reject);
      response.on('aborted', () => reject(new Error('download aborted')));
    });

    fs.writeFileSync(config, [...head, `  - share: ${fixture.root}`, '    name: arrives', '    allowUpload: false', ''].join('\n'));
    await cli.waitForOutput(/arrives.* -> /);
    await cli.waitForOutput(/removed: http:\/\/127\.0\.0\.1:\d+/);
    expect((await visit(edge, 'arrives', '/hello.txt')).body).toBe('hello from the share\n');
    await eventually('the removed route gone from the edge', async () => ((await visit(edge, 'leaves', '/echo')).status !== 200 ? true : undefined));
    // Withdrawn at the edge, not just refused by the agent: one tunnel, still the same, with the two routes left.
    const me = JSON.parse((await visit(edge, null, '/api/v1/me', { headers: { authorization: `Bearer ${edge.adminToken}` } })).body) as { tunnels: Array<{ id: string; routes: Array<{ name?: string }> }> };
    expect(me.tunnels).toHaveLength(1);
    expect(me.tunnels[0]!.id).toBe(tunnelBefore);
    expect(me.tunnels[0]!.routes.map((route) => route.name).sort()).toEqual(['arrives', 'stays']);
    expect(received).toBeLessThan(DOWNLOAD_BYTES);

    // An invalid edit: one warning, and every route stays as it was.
    fs.writeFileSync(config, [...head, '  - share: 12', '    nmae: typo', ''].join('\n'));
    await eventually('the invalid edit reported', () => /agent\.yml not reloaded, still running the previous routes: .*routes\.1/.exec(cli!.stderr()) ?? undefined);
    expect((await visit(edge, 'arrives', '/hello.txt')).status).toBe(200);

    response.resume();
    await finished;
    expect(received).toBe(DOWNLOAD_BYTES);
    expect(hash.digest('hex')).toBe(patternSha256(DOWNLOAD_BYTES));
    expect(cli.child.exitCode).toBeNull();
    fs.rmSync(dir, { recursive: true });
  });
});
