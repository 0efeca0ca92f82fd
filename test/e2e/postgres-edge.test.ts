import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startHttpOrigin, type Origin } from '../helpers/origins.js';
import { findPostgresBinaries, POSTGRES_MISSING, startPostgresBackend, type TestBackend } from '../helpers/test-databases.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { startTestEdge } from '../helpers/test-edge.js';
import { visit } from '../helpers/visitor.js';

const binaries = findPostgresBinaries();

describe('the edge on PostgreSQL (--database-url postgres://…)', () => {
  let backend: TestBackend;
  let origin: Origin;

  beforeAll(async () => {
    if (!binaries) return;
    backend = await startPostgresBackend(binaries);
    origin = await startHttpOrigin();
  });
  afterAll(async () => {
    await origin?.close();
    await backend?.cleanup();
  });

  test('PostgreSQL is installed (CI must not skip the tests below)', (ctx) => {
    if (!binaries && !process.env.CI) ctx.skip(POSTGRES_MISSING);
    expect(binaries, POSTGRES_MISSING).not.toBeNull();
  });

  test('creates its schema, the admin account and serves names; all of it survives a restart', async (ctx) => {
    if (!binaries) ctx.skip(POSTGRES_MISSING);
    const database = await backend.fresh();
    const first = await startTestEdge({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
    expect(first.adminToken).toMatch(/^udns_/);
    const agent = await startTestAgent(first, [{ kind: 'http', localPort: origin.port, name: 'pgname' }]);
    expect((await visit(first, 'pgname', '/echo')).status).toBe(200);
    agent.stop();
    await first.close();

    const second = await startTestEdge({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
    try {
      expect(second.edge.initialAdminToken).toBeNull();
      // The name is still claimed (offline: 502, not 404), and the old token still works.
      expect((await visit(second, 'pgname', '/')).status).toBe(502);
      const again = await startTestAgent(second, [{ kind: 'http', localPort: origin.port, name: 'pgname' }], { token: first.adminToken });
      expect((await visit(second, 'pgname', '/echo')).status).toBe(200);
      again.stop();
    } finally {
      await second.close();
    }
  });
});
