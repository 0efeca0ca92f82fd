import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateSigningKey, isUdnsError, signingKeyPem, signStatement, verifyStatement } from '../protocol/index.js';
import { apiCall } from '../test/helpers/edge-client.js';
import { startTestEdge, type TestEdge } from '../test/helpers/test-edge.js';
import type { EdgeTarget } from './client-config.js';
import { ensureSigningKey, loadOrCreateSigningKey, loadSigningKey, signingKeyFiles } from './signing-key.js';

function freshEnv(name = 'config.json'): NodeJS.ProcessEnv {
  return { UDNS_CONFIG: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'udns-signing-key-')), name) };
}

describe('the member signing key file', () => {
  test('beside the login file: config.json has signing-key.pem, another login file its own key', () => {
    const env = freshEnv();
    const dir = path.dirname(env.UDNS_CONFIG!);
    expect(signingKeyFiles(env)).toEqual({ key: path.join(dir, 'signing-key.pem'), registrations: path.join(dir, 'signing-key.json') });
    expect(signingKeyFiles({ UDNS_CONFIG: path.join(dir, 'alice.json') }).key).toBe(path.join(dir, 'alice.signing-key.pem'));
    expect(signingKeyFiles({ XDG_CONFIG_HOME: '/xdg' }).key).toBe('/xdg/udns/signing-key.pem');
  });

  test('made once, 0600, and the same key loaded afterwards; it signs what verifies', () => {
    const env = freshEnv();
    expect(loadSigningKey(env)).toBeNull();
    const made = loadOrCreateSigningKey(env);
    expect(made.created).toBe(true);
    expect(fs.statSync(signingKeyFiles(env).key).mode & 0o777).toBe(0o600);
    const again = loadOrCreateSigningKey(env);
    expect(again).toMatchObject({ created: false, pair: { keyId: made.pair.keyId, publicKey: made.pair.publicKey } });
    const statement = signStatement('acceptance', { saleId: 'x' }, again.pair);
    expect(verifyStatement(statement, 'acceptance', made.pair.publicKey)).toBe(true);
  });

  test('an existing key is kept (never overwritten), whoever wrote it', () => {
    const env = freshEnv();
    const other = generateSigningKey();
    fs.writeFileSync(signingKeyFiles(env).key, signingKeyPem(other), { mode: 0o600 });
    expect(loadOrCreateSigningKey(env)).toMatchObject({ created: false, pair: { keyId: other.keyId } });
  });

  test('a key others can read is refused with the chmod that fixes it; a broken file names the fix', () => {
    const env = freshEnv();
    const file = signingKeyFiles(env).key;
    fs.writeFileSync(file, signingKeyPem(generateSigningKey()), { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    expect(() => loadSigningKey(env)).toThrow(/chmod 600/);
    fs.writeFileSync(file, 'not a key', { mode: 0o600 });
    fs.chmodSync(file, 0o600);
    expect(() => loadSigningKey(env)).toThrow(/not an Ed25519 private key/);
  });
});

describe('registering the key with a real edge', () => {
  let edge: TestEdge;
  let alice: EdgeTarget;
  let bob: EdgeTarget;
  beforeAll(async () => {
    edge = await startTestEdge();
    alice = { server: edge.serverUrl, token: await edge.createAccount('alice'), trust: { insecure: false } };
    bob = { server: edge.serverUrl, token: await edge.createAccount('bob'), trust: { insecure: false } };
  });
  afterAll(() => edge?.close());

  test('the first command makes and registers the key; later ones neither make nor post it again', async () => {
    const env = freshEnv();
    const first = await ensureSigningKey(env, alice);
    expect(first).toMatchObject({ created: true, registered: true });
    const keys = await apiCall(edge, bob.token, 'GET', '/keys/alice');
    expect(keys.status).toBe(200);
    expect(keys.body).toMatchObject({ account: 'alice', keys: [{ keyId: first.pair.keyId, publicKey: first.pair.publicKey, account: 'alice', revokedAt: null }] });
    // Remembered per edge: a second call does not ask the edge (a rejected token would fail it).
    const second = await ensureSigningKey(env, { ...alice, token: 'udns_not-a-token' });
    expect(second).toMatchObject({ created: false, registered: false, pair: { keyId: first.pair.keyId } });
    // The edge itself takes the same key again without a second row.
    const repeat = await apiCall(edge, alice.token, 'POST', '/keys', { publicKey: first.pair.publicKey });
    expect(repeat.status).toBe(200);
    expect(repeat.body).toMatchObject({ created: false });
  });

  test('a key file another account registered is refused with the fix; unknown accounts are 404', async () => {
    const env = freshEnv();
    await ensureSigningKey(env, alice);
    const shared = { ...env, UDNS_CONFIG: env.UDNS_CONFIG };
    const error = await ensureSigningKey(shared, { ...bob, server: edge.serverUrl.replace('127.0.0.1', 'localhost') }).catch((e: unknown) => e);
    expect(isUdnsError(error, 'forbidden')).toBe(true);
    expect((error as Error).message).toMatch(/another account.*udns login/);
    expect((await apiCall(edge, bob.token, 'GET', '/keys/nobody')).status).toBe(404);
    expect((await apiCall(edge, bob.token, 'POST', '/keys', { publicKey: 'abc' })).status).toBe(400);
  });
});
