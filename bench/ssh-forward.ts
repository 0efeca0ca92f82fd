import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, waitForPort, type ProcessGroup } from './processes.js';
import { childPids } from './proc-stats.js';
import { startFarLink, type FarLink } from './far-link.js';

const SSHD = '/usr/sbin/sshd';
const START_TIMEOUT_MS = 20_000;

/** A private sshd plus an `ssh -R` client forwarding a loopback port to the origin. */
export interface SshForward {
  /** The forwarded port on 127.0.0.1 (sshd listens on it and relays through the ssh client). */
  port: number;
  /** `ssh -V`, for the results. */
  version: string;
  /** Stops the ssh client first (ending its session process), then sshd. */
  stop(): Promise<void>;
}

function sshdConfig(dir: string, port: number): string {
  return [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${path.join(dir, 'host_key')}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'AllowTcpForwarding yes',
    'GatewayPorts no',
    'PidFile none',
    'UseDNS no',
    'PrintMotd no',
    'LogLevel ERROR',
    '',
  ].join('\n');
}

/**
 * Starts `sshd -D -e -f <config>` as root on a free loopback port with a generated host key and
 * an authorized_keys for a generated client key (all inside `workDir`), then
 * `ssh -N -R <port>:127.0.0.1:<origin>`, and waits until the forward serves connections. With
 * `tunnelDelayMs`, ssh reaches sshd through a delay proxy adding that much each way (a far
 * client, like a far udns agent).
 */
export async function startSshForward(group: ProcessGroup, options: { originPort: number; workDir: string; tunnelDelayMs?: number }): Promise<SshForward> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('the ssh -R path starts sshd and needs root; leave the ssh paths out with --paths direct,nginx,udns,udns-ws,udns-far');
  }
  const dir = fs.mkdtempSync(path.join(options.workDir, 'ssh-'));
  const keygen = (file: string): void => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'udns-bench', '-f', path.join(dir, file)], { stdio: 'ignore', timeout: 10_000 });
  };
  keygen('host_key');
  keygen('client_key');
  fs.copyFileSync(path.join(dir, 'client_key.pub'), path.join(dir, 'authorized_keys'));
  // sshd refuses to start without its privilege-separation directory (Debian's unit makes it).
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  const sshdPort = await freePort();
  const config = path.join(dir, 'sshd_config');
  fs.writeFileSync(config, sshdConfig(dir, sshdPort));
  execFileSync(SSHD, ['-t', '-f', config], { stdio: 'pipe', timeout: 10_000 });
  const sshd = group.start('sshd', SSHD, ['-D', '-e', '-f', config], { detached: true });
  await waitForPort(sshdPort, START_TIMEOUT_MS, sshd);

  let link: FarLink | undefined;
  if (options.tunnelDelayMs !== undefined) link = await startFarLink(group, { targetPort: sshdPort, oneWayDelayMs: options.tunnelDelayMs, name: 'delay proxy' });
  const forwardPort = await freePort();
  const ssh = group.start('ssh -R', 'ssh', [
    '-N', '-F', '/dev/null',
    '-R', `${forwardPort}:127.0.0.1:${options.originPort}`,
    '-p', String(link?.port ?? sshdPort),
    '-i', path.join(dir, 'client_key'),
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'ExitOnForwardFailure=yes',
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'LogLevel=ERROR',
    'root@127.0.0.1',
  ]);
  try {
    await waitForPort(forwardPort, START_TIMEOUT_MS, ssh);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${sshd.describe()}`);
  }

  const versionRun = spawnSync('ssh', ['-V'], { encoding: 'utf8', timeout: 5000 });
  const version = `${versionRun.stderr ?? ''}${versionRun.stdout ?? ''}`.trim() || 'unknown';
  return {
    port: forwardPort,
    version,
    async stop() {
      await ssh.stop(3000);
      // Let sshd reap its session process first: killed earlier, the session would be orphaned
      // to pid 1, which here may never reap it (a zombie left behind).
      const deadline = Date.now() + 3000;
      while (sshd.pid !== undefined && childPids(sshd.pid).length > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await sshd.stop(3000);
      await link?.stop();
    },
  };
}
