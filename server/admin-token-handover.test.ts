import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, test } from 'vitest';
import { openAccountStore, type AccountStore } from './accounts/account-store.js';
import { ADMIN_TOKEN_FILE_NAME, AdminTokenHandover } from './admin-token-handover.js';

const logger = pino({ level: 'silent' });
const open: AccountStore[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((store) => store.close()));
});

async function freshStore(dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-handover-'))): Promise<{ store: AccountStore; dataDir: string; file: string }> {
  const store = await openAccountStore({ dataDir });
  open.push(store);
  return { store, dataDir, file: path.join(dataDir, ADMIN_TOKEN_FILE_NAME) };
}

describe('the first-start admin token handover', () => {
  test('an empty database gets the admin account; its token waits in a 0600 file until it first authenticates', async () => {
    const { store, dataDir, file } = await freshStore();
    const handover = new AdminTokenHandover(store, dataDir, logger);
    const token = await handover.issue();
    expect(token).toMatch(/^udns_/);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file, 'utf8')).toBe(`${token}\n`);
    expect(handover.pendingFile()).toBe(file);

    // Another account's token, or a wrong one, leaves the file alone.
    const other = (await store.createAccount('bob')).token;
    expect((await handover.tokens.authenticate(other))?.name).toBe('bob');
    expect(await handover.tokens.authenticate(`${token!.slice(0, -1)}x`)).toBeNull();
    expect(fs.existsSync(file)).toBe(true);

    expect((await handover.tokens.authenticate(token!))?.name).toBe('admin');
    expect(fs.existsSync(file)).toBe(false);
    expect(handover.pendingFile()).toBeNull();
  });

  test('a later start names a file whose token was never used, and deletes one whose token was', async () => {
    const { store, dataDir, file } = await freshStore();
    const token = await new AdminTokenHandover(store, dataDir, logger).issue();

    const restarted = new AdminTokenHandover(store, dataDir, logger);
    expect(await restarted.issue()).toBeNull();
    expect(restarted.pendingFile()).toBe(file);

    // Used through another edge process (or before a crash deleted the file): nothing to hand over.
    await store.authenticate(token!);
    const again = new AdminTokenHandover(store, dataDir, logger);
    expect(await again.issue()).toBeNull();
    expect(again.pendingFile()).toBeNull();
    expect(fs.existsSync(file)).toBe(false);
  });

  test('a revoked, never used token\'s file is deleted at the next start', async () => {
    const { store, dataDir, file } = await freshStore();
    const token = await new AdminTokenHandover(store, dataDir, logger).issue();
    await store.revokeToken('admin', token!);
    const restarted = new AdminTokenHandover(store, dataDir, logger);
    await restarted.issue();
    expect(restarted.pendingFile()).toBeNull();
    expect(fs.existsSync(file)).toBe(false);
  });

  test('a file left beside an empty database is replaced, and a planted link is never written through', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-handover-'));
    const victim = path.join(dataDir, 'victim');
    fs.writeFileSync(victim, 'keep me\n', { mode: 0o644 });
    fs.symlinkSync(victim, path.join(dataDir, ADMIN_TOKEN_FILE_NAME));
    const { store, file } = await freshStore(dataDir);
    const token = await new AdminTokenHandover(store, dataDir, logger).issue();
    expect(fs.readFileSync(victim, 'utf8')).toBe('keep me\n');
    expect(fs.lstatSync(file).isFile()).toBe(true);
    expect(fs.readFileSync(file, 'utf8')).toBe(`${token}\n`);
  });
});
