import { expect, test } from 'vitest';
import { openAccountStore } from '../accounts/account-store.js';
import { describeOnDatabases, findPostgresBinaries, requirePostgresInCi } from '../../test/helpers/test-databases.js';
import { openTrafficMeter } from './traffic-meter.js';

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);

const HOUR = 3_600_000;

describeOnDatabases('traffic meter on %s', ({ backend, open }) => {
  test('counts per (account, name) reach the database by increment, per hour, and snapshot keeps totals since start', async () => {
    const db = await backend.fresh();
    const store = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    open.push(store);
    let now = Date.UTC(2026, 11, 2, 10, 59, 0);
    const meter = openTrafficMeter(store, { flushIntervalMs: 3_600_000, now: () => now });
    open.push(meter);
    meter.add('alice', 'nas', 100, 5_000_000_000);
    meter.counter('alice', 'nas').add(1, 2);
    meter.add('alice', 'tcp:40001', 7, 8);
    meter.add('bob', 'blog', 3, 4);
    now += 2 * 60_000; // 11:01: the flush writes the interval that began at 10:59
    await meter.flush();
    meter.add('alice', 'nas', 10, 20);
    now += 60_000;
    await meter.flush();
    await meter.flush(); // nothing new: adds nothing

    const rows = await meter.trafficByHour('alice', new Date(Date.UTC(2026, 11, 2, 10, 30)));
    expect(rows).toEqual([
      { name: 'nas', hour: new Date(Date.UTC(2026, 11, 2, 10)), bytesIn: 101, bytesOut: 5_000_000_002 },
      { name: 'tcp:40001', hour: new Date(Date.UTC(2026, 11, 2, 10)), bytesIn: 7, bytesOut: 8 },
      { name: 'nas', hour: new Date(Date.UTC(2026, 11, 2, 11)), bytesIn: 10, bytesOut: 20 },
    ]);
    expect(await meter.trafficByHour('alice', new Date(Date.UTC(2026, 11, 2, 11)))).toHaveLength(1);
    expect(await meter.trafficByHour('carol', new Date(0))).toEqual([]);
    expect(await meter.topNames(new Date(0), 2)).toEqual([
      { account: 'alice', name: 'nas', bytesIn: 111, bytesOut: 5_000_000_022 },
      { account: 'alice', name: 'tcp:40001', bytesIn: 7, bytesOut: 8 },
    ]);
    expect(meter.snapshot()).toContainEqual({ account: 'alice', name: 'nas', bytesIn: 111, bytesOut: 5_000_000_022 });
    expect(meter.snapshot()).toHaveLength(3);
  });

  test('two meters (two edges) on one database add up', async () => {
    const db = await backend.fresh();
    const a = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    const b = await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    open.push(a, b);
    const now = (): number => Date.UTC(2026, 11, 2, 12, 5);
    const edgeA = openTrafficMeter(a, { now });
    const edgeB = openTrafficMeter(b, { now });
    open.push(edgeA, edgeB);
    for (let i = 0; i < 20; i++) {
      edgeA.add('alice', 'nas', 1_000, 10);
      edgeB.add('alice', 'nas', 2_000, 20);
      await Promise.all([edgeA.flush(), edgeB.flush()]);
    }
    edgeB.add('alice', 'shop', 5, 5);
    await edgeB.close();
    const rows = await edgeA.trafficByHour('alice', new Date(now() - HOUR));
    expect(rows).toEqual([
      { name: 'nas', hour: new Date(Date.UTC(2026, 11, 2, 12)), bytesIn: 60_000, bytesOut: 600 },
      { name: 'shop', hour: new Date(Date.UTC(2026, 11, 2, 12)), bytesIn: 5, bytesOut: 5 },
    ]);
  });
}, pgBin);
