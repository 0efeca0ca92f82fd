import { afterAll, beforeAll, expect, test } from 'vitest';
import pino from 'pino';
import { openAccountStore, storeDatabase, type AccountStore } from '../accounts/account-store.js';
import { startDomainDns, type DomainDns } from '../../test/helpers/domain-dns.js';
import { closedPort } from '../../test/helpers/origins.js';
import { describeOnDatabases, findPostgresBinaries, rejection, requirePostgresInCi } from '../../test/helpers/test-databases.js';
import { CustomDomains, PENDING_CLAIM_TTL_MS } from './custom-domains.js';
import { DomainProofs } from './domain-proof.js';
import { openDomainStore } from './domain-store.js';

const pgBin = findPostgresBinaries();
requirePostgresInCi(pgBin);

const DOMAIN = 'shop.example.com';
const TXT = `_udns-challenge.${DOMAIN}`;
const silent = pino({ level: 'silent' });

let dns: DomainDns;
beforeAll(async () => { dns = await startDomainDns('edge.test'); });
afterAll(() => dns?.close());

/** One edge's room over `store`, checking proofs through the loopback DNS (or `resolver`). */
function room(store: AccountStore, resolver = dns.address): CustomDomains {
  return new CustomDomains('edge.test', openDomainStore(storeDatabase(store)), new DomainProofs(resolver, ['192.0.2.1']), undefined, 3_600_000, silent);
}

describeOnDatabases('custom domains on %s', ({ backend, open }) => {
  async function setUp() {
    const db = await backend.fresh();
    // Two edges on one database: each has its own store and room.
    const [storeA, storeB] = [await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl }), await openAccountStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl })];
    open.push(storeA, storeB);
    const alice = (await storeA.createAccount('alice')).account.id;
    const bob = (await storeA.createAccount('bob')).account.id;
    await storeA.claimName(alice, 'alice');
    await storeA.claimName(bob, 'bob');
    return { edgeA: room(storeA), edgeB: room(storeB), storeA, alice, bob };
  }

  test('pending claims do not block others; the first proof wins on every edge, a second account is refused by the database', async () => {
    const { edgeA, edgeB, alice, bob } = await setUp();
    const a = (await edgeA.store.claim(alice, DOMAIN, 'alice')).row;
    const b = (await edgeB.store.claim(bob, DOMAIN, 'bob')).row;
    expect(a.token).not.toBe(b.token);
    expect(a.token).toMatch(/^udns-[A-Za-z0-9_-]{32}$/);
    // Both values published (a shared DNS zone, say) and both names CNAME'd: only one may hold it.
    dns.set(TXT, 'TXT', [a.token, b.token]);
    dns.set(DOMAIN, 'CNAME', ['alice.edge.test']);
    expect(await edgeA.verify(a)).toEqual({ kind: 'proven' });
    expect(edgeA.visit(DOMAIN, '/', false)).toEqual({ kind: 'route', label: 'alice', accountId: alice });
    // Edge B learns it at its next refresh.
    expect(edgeB.visit(DOMAIN, '/', false)).toBeNull();
    await edgeB.refresh();
    expect(edgeB.visit(DOMAIN, '/', false)).toEqual({ kind: 'route', label: 'alice', accountId: alice });
    dns.set(DOMAIN, 'CNAME', ['bob.edge.test']);
    expect(await rejection(edgeB.verify(b))).toEqual({ code: 'name_taken', message: `${DOMAIN} is verified by another account` });
    expect(edgeB.visit(DOMAIN, '/', false)).toEqual({ kind: 'route', label: 'alice', accountId: alice });
    // An HTTP-01 answer published by the edge that orders is served by the other one too.
    await edgeA.store.setChallenge(DOMAIN, 'tok-123', 'tok-123.thumbprint');
    await edgeB.refresh();
    const answer = edgeB.visit(DOMAIN, '/.well-known/acme-challenge/tok-123', false);
    expect(answer?.kind === 'answer' && answer.bytes.toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\ntok-123\.thumbprint$/);
    expect(edgeB.visit(DOMAIN, '/.well-known/acme-challenge/other', false)).toMatchObject({ kind: 'route' });
    await edgeA.store.setChallenge(DOMAIN, null, null);
    await edgeB.refresh();
    expect(edgeB.visit(DOMAIN, '/.well-known/acme-challenge/tok-123', false)).toMatchObject({ kind: 'route' });
  });

  test('a re-check revokes on a definite answer (TXT gone), not on a DNS outage; removal answers "not found"', async () => {
    const { edgeA, storeA, alice } = await setUp();
    const row = (await edgeA.store.claim(alice, DOMAIN, 'alice')).row;
    await edgeA.refresh();
    // A pending claim answers nothing itself: the apex keeps the host.
    expect(edgeA.visit(DOMAIN, '/', false)).toBeNull();
    dns.set(TXT, 'TXT', [row.token]);
    dns.set(DOMAIN, 'CNAME', ['alice.edge.test']);
    expect(await edgeA.verify(row)).toEqual({ kind: 'proven' });
    // The resolver is down: nothing is revoked.
    const outage = room(storeA, `127.0.0.1:${await closedPort()}`);
    await outage.recheckAll();
    expect(outage.visit(DOMAIN, '/', false)).toMatchObject({ kind: 'route' });
    expect((await outage.store.get(alice, DOMAIN))!.verifiedAt).not.toBeNull();
    // The TXT changed: revoked, and the edge answers "not found" instead of the apex's pages.
    dns.set(TXT, 'TXT', ['udns-someone-else']);
    await edgeA.recheckAll();
    const visit = edgeA.visit(DOMAIN, '/', true);
    expect(visit?.kind).toBe('answer');
    expect(visit?.kind === 'answer' && visit.bytes.toString()).toMatch(/^HTTP\/1\.1 404 /);
    expect(edgeA.view((await edgeA.store.get(alice, DOMAIN))!)).toMatchObject({ status: 'failed', lastError: expect.stringContaining('does not hold this account') });
    expect(await edgeA.store.remove(alice, DOMAIN)).toBe(true);
    await edgeA.removed(DOMAIN);
    expect(edgeA.visit(DOMAIN, '/', false)?.kind).toBe('answer');
    expect(edgeA.visit('unknown.example.org', '/', false)).toBeNull();
  });

  test('A/AAAA records count only when they are the edge\'s own addresses; unverified claims expire', async () => {
    const { edgeA, alice } = await setUp();
    const apex = 'example.net';
    const row = (await edgeA.store.claim(alice, apex, 'alice')).row;
    dns.set(`_udns-challenge.${apex}`, 'TXT', [row.token]);
    dns.set(apex, 'A', ['198.51.100.7']);
    expect(await edgeA.verify(row)).toEqual({ kind: 'failed', reason: `${apex} points at 198.51.100.7, not at this edge: add the record ${apex} CNAME alice.edge.test instead` });
    dns.set(apex, 'A', ['192.0.2.1']);
    expect(await edgeA.verify(row)).toEqual({ kind: 'proven' });
    const stale = (await edgeA.store.claim(alice, 'old.example.org', 'alice')).row;
    expect(await edgeA.store.expirePending(new Date(Date.now() - PENDING_CLAIM_TTL_MS))).toBe(0);
    expect(await edgeA.store.expirePending(new Date(stale.createdAt.getTime() + 1))).toBe(1);
    // The verified one stays.
    expect((await edgeA.store.list(alice)).map((entry) => entry.domain)).toEqual([apex]);
  });
});
