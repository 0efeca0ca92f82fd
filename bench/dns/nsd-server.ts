/*
 * A private NSD for the DNS benchmark: its own nsd.conf and zone file in a temp directory,
 * loopback only, in the foreground (-d) as a child of the benchmark, no system service, no
 * pid file, no database. Run as the current user (`username: ""`), which also works as root.
 */
import fs from 'node:fs';
import path from 'node:path';
import { freePort, waitForPort, type ManagedProcess, type ProcessGroup } from '../processes.js';
import { BENCH_DOMAIN, benchZoneFile } from './bench-zone.js';

/** A running NSD and how to stop it. */
export interface NsdServer {
  readonly port: number;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

function nsdConf(dir: string, port: number): string {
  return `server:
  ip-address: 127.0.0.1
  port: ${port}
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "${dir}"
  database: ""
  zonelistfile: "${path.join(dir, 'zone.list')}"
  xfrdfile: "${path.join(dir, 'xfrd.state')}"
  xfrdir: "${dir}"
  pidfile: ""
  logfile: "${path.join(dir, 'nsd.log')}"
  # One server process: the same single core udns's event loop gets.
  server-count: 1
  verbosity: 1
  # Off, as udns's is in this benchmark: one dnsperf source would otherwise be rate-limited.
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
  # Answers without extra NS/glue, the way udns answers.
  minimal-responses: yes
  hide-version: yes
remote-control:
  control-enable: no
zone:
  name: ${BENCH_DOMAIN}
  zonefile: ${BENCH_DOMAIN}.zone
`;
}

/**
 * Writes the configuration into `dir`, starts `nsd -d` and waits until it accepts TCP on its
 * port (it binds UDP in the same step).
 */
export async function startNsd(group: ProcessGroup, dir: string, names: number): Promise<NsdServer> {
  const port = await freePort();
  fs.writeFileSync(path.join(dir, `${BENCH_DOMAIN}.zone`), benchZoneFile(names));
  const conf = path.join(dir, 'nsd.conf');
  fs.writeFileSync(conf, nsdConf(dir, port));
  // Its own process group: NSD forks a transfer daemon and the server, all stopped together.
  const nsd = group.start('nsd', 'nsd', ['-d', '-c', conf], { detached: true });
  try {
    await waitForPort(port, 15_000, nsd);
  } catch (error) {
    const log = fs.existsSync(path.join(dir, 'nsd.log')) ? fs.readFileSync(path.join(dir, 'nsd.log'), 'utf8') : '';
    await nsd.stop();
    throw new Error(`${(error as Error).message}\n--- nsd.log\n${log}`);
  }
  return { port, process: nsd, stop: () => nsd.stop() };
}
