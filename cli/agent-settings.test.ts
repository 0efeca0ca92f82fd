import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { isUdnsError } from '../protocol/index.js';
import { loadAgentSettings } from './agent-settings.js';

function savedLogin(config: object): NodeJS.ProcessEnv {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-settings-'));
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  return { UDNS_CONFIG: file };
}

function tokenFile(token: string, mode = 0o600): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'udns-token-')), 'token');
  fs.writeFileSync(file, `${token}\n`, { mode });
  fs.chmodSync(file, mode);
  return file;
}

describe('agent settings: one loader', () => {
  test('flags > UDNS_* > config file > saved login > defaults, frozen', () => {
    const env = savedLogin({ server: 'http://saved.example', token: 'saved-token' });
    expect(loadAgentSettings({}, env)).toMatchObject({ server: 'http://saved.example', token: 'saved-token', transport: 'raw' });
    const file = { server: 'http://file.example', token: 'file-token', transport: 'ws' as const };
    expect(loadAgentSettings({}, env, file)).toMatchObject({ server: 'http://file.example', token: 'file-token', transport: 'ws' });
    const withEnv = { ...env, UDNS_SERVER: 'http://env.example', UDNS_TOKEN: 'env-token' };
    expect(loadAgentSettings({}, withEnv, file)).toMatchObject({ server: 'http://env.example', token: 'env-token' });
    const settings = loadAgentSettings({ server: 'http://flag.example', tokenFile: tokenFile('flag-token'), transport: 'raw' }, withEnv, file);
    expect(settings).toMatchObject({ server: 'http://flag.example', token: 'flag-token', transport: 'raw' });
    expect(Object.isFrozen(settings)).toBe(true);
  });

  test('UDNS_TOKEN_FILE is read with the same mode check as --token-file', () => {
    const env = { ...savedLogin({ server: 'http://saved.example' }), UDNS_TOKEN_FILE: tokenFile('from-env-file') };
    expect(loadAgentSettings({}, env).token).toBe('from-env-file');
    const open = { ...env, UDNS_TOKEN_FILE: tokenFile('x', 0o644) };
    expect(() => loadAgentSettings({}, open)).toThrow(/chmod 600/);
  });

  test('every problem at once', () => {
    try {
      loadAgentSettings({ token: 'a', tokenFile: '/nonexistent/token', ca: '/nonexistent/ca.pem' }, savedLogin({}));
      expect.unreachable();
    } catch (error) {
      expect(isUdnsError(error, 'config_invalid')).toBe(true);
      const message = (error as Error).message;
      for (const problem of ['not both', '/nonexistent/token', 'no server', '--ca /nonexistent/ca.pem']) expect(message).toContain(problem);
    }
  });
});
