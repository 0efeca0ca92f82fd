import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { PACKAGE_ROOT } from '../helpers/test-agent.js';

/*
 * Issue 9 #8: `npm install` warned that dns2 wants Node >= 22 while udns supports Node 20.
 * npm's own check, run as a dry run on the installed tree (nothing is written or fetched).
 */
describe('npm install', () => {
  test('warns about no engine: every dependency accepts the Node udns supports', async () => {
    const { stdout, stderr } = await promisify(execFile)(
      'npm', ['install', '--dry-run', '--ignore-scripts', '--offline', '--no-audit', '--no-fund'],
      { cwd: PACKAGE_ROOT, env: { ...process.env, npm_config_loglevel: 'warn' } },
    );
    expect(`${stdout}${stderr}`).not.toMatch(/EBADENGINE/);
  });
});
