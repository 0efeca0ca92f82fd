import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { expectCleanFailure, runCli, UDNS_BIN } from '../helpers/test-agent.js';
import { writeTokenFile } from '../helpers/token-file.js';

/**
 * Issue 9: `udns service install` writes, enables and starts a systemd unit. No systemd runs in
 * CI containers, so the unit folder and systemctl are replaced (UDNS_SYSTEMD_UNIT_DIR, and
 * UDNS_SYSTEMCTL = a script that records its arguments); the unit files are real and, where
 * systemd-analyze exists, checked by systemd's own parser.
 */
const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

function world(): { dir: string; units: string; calls: () => string[][]; env: NodeJS.ProcessEnv } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-service-'));
  const log = path.join(dir, 'systemctl.log');
  const fake = path.join(dir, 'systemctl');
  fs.writeFileSync(fake, `#!/bin/sh\necho "$*" >> '${log}'\n`, { mode: 0o755 });
  const units = path.join(dir, 'units');
  return {
    dir,
    units,
    calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n').map((line) => line.split(' ')) : []),
    env: { UDNS_SYSTEMD_UNIT_DIR: units, UDNS_SYSTEMCTL: fake },
  };
}

function verify(file: string): void {
  // `npm run test:setup` installs it; CI must not pass without the check.
  if (!hasAnalyze && process.env.CI) throw new Error('systemd-analyze is missing: run npm run test:setup');
  if (!hasAnalyze) return;
  const result = spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8' });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
}

function lines(file: string): string[] {
  return fs.readFileSync(file, 'utf8').split('\n');
}

describe.skipIf(process.platform !== 'linux')('udns service install', () => {
  test('the system edge: the installed node and bin/udns.js, restart on failure, hardened, data in /var/lib/udns, enabled and started', async () => {
    const w = world();
    const result = await runCli(['service', 'install', 'server', '--', '--domain', 'example.com', '--dns-port', '53'], w.env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const file = path.join(w.units, 'udns-edge.service');
    const unit = lines(file);
    expect(unit).toContain(`ExecStart=${process.execPath} --max-semi-space-size=8 ${fs.realpathSync(UDNS_BIN)} server --data-dir /var/lib/udns --domain example.com --dns-port 53`);
    for (const line of ['Restart=on-failure', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'PrivateTmp=yes', 'DynamicUser=yes', 'StateDirectory=udns',
      'AmbientCapabilities=CAP_NET_BIND_SERVICE', 'Environment=UDNS_LOG_FORMAT=json', 'WantedBy=multi-user.target']) expect(unit).toContain(line);
    expect(w.calls()).toEqual([['daemon-reload'], ['enable', '--now', 'udns-edge.service']]);
    verify(file);
  });

  test('a data dir of the edge\'s own is made absolute and writable under ProtectSystem=strict', async () => {
    const w = world();
    const result = await runCli(['service', 'install', 'server', '--no-start', '--', '--data-dir', 'relative-data'], w.env);
    expect(result.code).toBe(0);
    const unit = lines(path.join(w.units, 'udns-edge.service'));
    const absolute = path.resolve('relative-data');
    expect(unit.find((line) => line.startsWith('ExecStart='))).toContain(` server --data-dir ${absolute}`);
    expect(unit).toContain(`ReadWritePaths=${absolute}`);
    expect(unit).not.toContain('StateDirectory=udns');
    // --no-start: only the reload, and the command to start it on stdout.
    expect(w.calls()).toEqual([['daemon-reload']]);
    expect(result.stdout).toContain('start it with: systemctl enable --now udns-edge.service');
    expect(result.stdout).toContain(`note: the service runs as a dynamic user: ${absolute} must be writable by it`);
  });

  test('a system agent gets its token as a systemd credential: the unit names the file, never the token', async () => {
    const w = world();
    const token = 'udns_servicetokennevershown';
    const tokenFile = writeTokenFile(token);
    const config = path.join(w.dir, 'home.yml');
    fs.writeFileSync(config, 'server: https://edge.example\nroutes:\n  - http: 3000\n');
    const result = await runCli(['service', 'install', 'up', '--config', config, '--token-file', tokenFile], w.env);
    expect(result.code).toBe(0);
    const file = path.join(w.units, 'udns-agent-home.service');
    const text = fs.readFileSync(file, 'utf8');
    expect(text).not.toContain(token);
    expect(text).toContain(`ExecStart=${process.execPath} --max-semi-space-size=8 ${fs.realpathSync(UDNS_BIN)} up --config ${config} --token-file %d/token\n`);
    expect(text).toContain(`LoadCredential=token:${tokenFile}\n`);
    expect(text).not.toContain('CAP_NET_BIND_SERVICE');
    expect(w.calls()).toEqual([['daemon-reload'], ['enable', '--now', 'udns-agent-home.service']]);
    verify(file);
  });

  test('--user: ~/.config/systemd/user (XDG_CONFIG_HOME), systemctl --user, the user\'s own rights, an absolute --token-file', async () => {
    const w = world();
    const config = path.join(w.dir, 'agent.yml');
    fs.writeFileSync(config, 'routes:\n  - http: 3000\n');
    const tokenFile = writeTokenFile('udns_usertoken');
    const xdg = path.join(w.dir, 'xdg');
    const env = { UDNS_SYSTEMCTL: w.env.UDNS_SYSTEMCTL, XDG_CONFIG_HOME: xdg };
    const result = await runCli(['service', 'install', '--user', 'up', '--config', config, '--token-file', tokenFile], env);
    expect(result.stderr).toBe('');
    const file = path.join(xdg, 'systemd', 'user', 'udns-agent-agent.service');
    const unit = lines(file);
    expect(unit).toContain(`ExecStart=${process.execPath} --max-semi-space-size=8 ${fs.realpathSync(UDNS_BIN)} up --config ${config} --token-file ${tokenFile}`);
    for (const line of ['Restart=on-failure', 'NoNewPrivileges=yes', 'WantedBy=default.target']) expect(unit).toContain(line);
    for (const line of ['DynamicUser=yes', 'ProtectSystem=strict', 'LoadCredential']) expect(unit.some((text) => text.startsWith(line))).toBe(false);
    expect(w.calls()).toEqual([['--user', 'daemon-reload'], ['--user', 'enable', '--now', 'udns-agent-agent.service']]);
    expect(result.stdout).toContain('loginctl enable-linger');
    verify(file);
  });

  test('a token on the command line is refused and nothing is written; up without --config too', async () => {
    const w = world();
    expectCleanFailure(await runCli(['service', 'install', 'up', '--config', __filename, '--', '--token', 'udns_x'], w.env), /^udns: a unit file must not hold a token: give the agent's token with --token-file/, 2);
    expectCleanFailure(await runCli(['service', 'install', 'up'], w.env), /^udns: udns service install up needs --config <file>/, 2);
    expectCleanFailure(await runCli(['service', 'install', 'http'], w.env), /^udns: udns service install runs server or up, not 'http'$/, 2);
    expect(fs.existsSync(w.units)).toBe(false);
    expect(w.calls()).toEqual([]);
  });

  test('status asks systemctl about every udns unit; uninstall stops, disables and removes one', async () => {
    const w = world();
    expect((await runCli(['service', 'status'], w.env)).stdout).toBe(`no udns units in ${w.units}\n`);
    await runCli(['service', 'install', 'server', '--no-start'], w.env);
    const config = path.join(w.dir, 'lab.yml');
    fs.writeFileSync(config, 'routes:\n  - http: 3000\n');
    await runCli(['service', 'install', 'up', '--no-start', '--config', config], w.env);
    const before = w.calls().length;
    expect((await runCli(['service', 'status'], w.env)).code).toBe(0);
    expect(w.calls().slice(before)).toEqual([['status', '--no-pager', 'udns-agent-lab.service'], ['status', '--no-pager', 'udns-edge.service']]);

    const removed = await runCli(['service', 'uninstall', config], w.env);
    expect(removed.stdout).toBe(`removed ${path.join(w.units, 'udns-agent-lab.service')}\n`);
    expect(w.calls().slice(-2)).toEqual([['disable', '--now', 'udns-agent-lab.service'], ['daemon-reload']]);
    expect(fs.readdirSync(w.units)).toEqual(['udns-edge.service']);
    expectCleanFailure(await runCli(['service', 'uninstall', config], w.env), /^udns: no unit .*udns-agent-lab\.service: see `udns service status`$/, 2);
  });
});
