import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { UdnsError } from '../../protocol/index.js';
import { say, warn } from '../cli-output.js';
import { planUnit, unitDirectory, unitNameFor } from '../service/service-plan.js';
import { renderUnit } from '../service/systemd-unit.js';

interface ServiceFlags {
  user?: boolean;
  config?: string;
  tokenFile?: string;
  start: boolean;
}

/** Runs systemctl (`UDNS_SYSTEMCTL` in tests, where no systemd runs), output to this terminal. */
function systemctl(user: boolean, args: string[]): number {
  const command = process.env.UDNS_SYSTEMCTL !== undefined && process.env.UDNS_SYSTEMCTL !== '' ? process.env.UDNS_SYSTEMCTL : 'systemctl';
  const result = spawnSync(command, [...(user ? ['--user'] : []), ...args], { stdio: 'inherit' });
  if (result.error !== undefined) throw new UdnsError('config_invalid', `cannot run ${command}: ${result.error.message} (is this a systemd system? see \`udns service --help\`)`);
  return result.status ?? 1;
}

function onlyLinux(): void {
  if (process.platform !== 'linux') {
    throw new UdnsError('config_invalid', `udns service writes systemd units (Linux); on ${process.platform === 'darwin' ? 'macOS use a launchd agent' : process.platform === 'win32' ? 'Windows use a scheduled task or NSSM' : 'this system use its service manager'}: see the README`);
  }
}

/** The unit a `status`/`uninstall` argument names: `server`, an agent's config file, or a unit name. */
function unitFor(which: string): string {
  if (which === 'server' || which === 'edge') return unitNameFor('server');
  if (which.endsWith('.service')) return which;
  return unitNameFor('up', which);
}

/** Every udns unit in the folder, for `status` without an argument. */
function installedUnits(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((file) => /^udns-.*\.service$/.test(file)).sort();
}

/** `udns service install|status|uninstall`: the edge or an agent as a systemd service. */
export function registerServiceCommands(program: Command): void {
  const service = program.command('service')
    .description('run the edge or an agent as a systemd service (Linux; see the README for macOS and Windows)')
    .addHelpText('after', `
Examples:
  sudo udns service install server -- --domain example.com --dns-port 53 --http-port 80
  udns service install --user up --config ~/agent.yml
  sudo udns service install up --config /etc/udns/agent.yml --token-file /etc/udns/token
  udns service status --user
  udns service uninstall --user agent.yml

Unit files go to /etc/systemd/system (with --user: ~/.config/systemd/user);
UDNS_SYSTEMD_UNIT_DIR and UDNS_SYSTEMCTL replace the folder and the systemctl command.`);

  service.command('install')
    .description('write, enable and start a unit running `udns server` or `udns up --config <file>`')
    .argument('<program>', 'server (the edge) or up (an agent)')
    .argument('[args...]', 'more flags for that program, after --')
    .option('--user', 'a unit of your own user manager (~/.config/systemd/user), not a system unit')
    .option('-c, --config <file>', 'the agent\'s config file (for up)')
    .option('--token-file <file>', 'the agent\'s token file: a systemd credential for a system unit, never copied into the unit')
    .option('--no-start', 'only write the unit (and reload systemd); do not enable or start it')
    .action((which: string, args: string[], flags: ServiceFlags) => {
      onlyLinux();
      if (which !== 'server' && which !== 'up') throw new UdnsError('config_invalid', `udns service install runs server or up, not '${which}'`);
      const bin = fs.realpathSync(process.argv[1]!);
      const { name, spec } = planUnit({
        program: which, args, user: flags.user === true, config: flags.config, tokenFile: flags.tokenFile,
        node: process.execPath, bin, home: os.homedir(),
      });
      const dir = unitDirectory(flags.user === true, process.env);
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, name);
      fs.writeFileSync(file, renderUnit(spec), { mode: 0o644 });
      say(`wrote ${file}`);
      const user = flags.user === true;
      // DynamicUser= gives the service a fresh uid: a folder made beforehand is not its own.
      for (const dir of spec.readWritePaths) say(`note: the service runs as a dynamic user: ${dir} must be writable by it (or leave out --data-dir for /var/lib/udns)`);
      const scope = user ? ' --user' : '';
      if (systemctl(user, ['daemon-reload']) !== 0) {
        warn(`systemctl${scope} daemon-reload failed: the unit is written; start it with \`systemctl${scope} enable --now ${name}\``);
        process.exitCode = 1;
        return;
      }
      if (!flags.start) {
        say(`start it with: systemctl${scope} enable --now ${name}`);
        return;
      }
      if (systemctl(user, ['enable', '--now', name]) !== 0) {
        warn(`systemctl${scope} enable --now ${name} failed: see \`udns service status${scope}\``);
        process.exitCode = 1;
        return;
      }
      say(`${name} enabled and started; logs: journalctl${scope} -u ${name}`);
      if (user) say(`it runs while you are logged in; to keep it running after logout: loginctl enable-linger ${os.userInfo().username}`);
    });

  service.command('status')
    .description('systemctl status of the udns units (or of one: server, an agent\'s config file, or a unit name)')
    .argument('[which]', 'server, the agent\'s config file, or a unit name')
    .option('--user', 'your user manager\'s units')
    .action((which: string | undefined, flags: { user?: boolean }) => {
      onlyLinux();
      const user = flags.user === true;
      const units = which !== undefined ? [unitFor(which)] : installedUnits(unitDirectory(user, process.env));
      if (units.length === 0) {
        say(`no udns units in ${unitDirectory(user, process.env)}`);
        return;
      }
      let worst = 0;
      for (const unit of units) worst = Math.max(worst, systemctl(user, ['status', '--no-pager', unit]));
      process.exitCode = worst;
    });

  service.command('uninstall')
    .description('stop, disable and remove a unit written by `udns service install`')
    .argument('<which>', 'server, the agent\'s config file, or a unit name')
    .option('--user', 'a unit of your user manager')
    .action((which: string, flags: { user?: boolean }) => {
      onlyLinux();
      const user = flags.user === true;
      const unit = unitFor(which);
      const file = path.join(unitDirectory(user, process.env), unit);
      if (!fs.existsSync(file)) throw new UdnsError('config_invalid', `no unit ${file}: see \`udns service status${user ? ' --user' : ''}\``);
      // A unit that is not running is no reason to keep its file.
      systemctl(user, ['disable', '--now', unit]);
      fs.rmSync(file);
      systemctl(user, ['daemon-reload']);
      say(`removed ${file}`);
    });
}
