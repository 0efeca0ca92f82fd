import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

/*
 * A private network of Linux network namespaces for one test file: the edge, a sharer and a
 * receiver as separate hosts with their own addresses, so "behind a firewall" can be played
 * for real with nftables instead of pretended with flags.
 *
 *   udnst-<pid>-<rand>-sw        one bridge (br0), nothing else: the "switch"
 *   udnst-<pid>-<rand>-<host>    eth0 (veth to the switch) 10.213.0.<n>/24, lo up
 *
 * Nothing touches the root namespace: the veth pairs are created inside the switch namespace
 * and their far ends moved straight into the hosts, the subnet has no route to anywhere, so
 * no test traffic can leave these namespaces. Several networks (test files) can exist at
 * once: each has its own switch, so they reuse the same subnet without meeting.
 *
 * Names: `ip netns exec` bind-mounts every file of /etc/netns/<ns>/ over /etc/ for the
 * command it runs. Each host gets a resolv.conf naming the `nameserver` host (the edge, whose
 * own authoritative DNS then answers for its domain on port 53, exactly as the public DNS
 * would delegate to it) and a hosts file with only localhost and the hosts' own names
 * (`<host>.<network>.internal`), so the machine's real /etc/hosts and resolver never apply.
 *
 * A firewall is an nftables table `udns_test_firewall` in the host: inbound TCP SYNs (new
 * connections) are dropped silently, as a home router without port forwarding does (connects
 * time out, they are not refused); everything else passes, so outbound connections (the
 * agent's tunnel, a push) and connections open before still work. `cutEstablished` also
 * resets the inbound connections that peers opened (conntrack direction "original"), which
 * is why every host tracks connections from its creation on.
 *
 * Clean-up: close() (afterAll) kills every process in the namespaces, deletes them and their
 * /etc/netns dirs; a process exit hook does the same if the test file dies first, and every
 * new network first removes networks left by test processes that no longer exist (a worker
 * killed with SIGKILL).
 */

const run = promisify(execFile);

/** Prefix of every namespace these tests create (and the only ones clean-up ever touches). */
const PREFIX = 'udnst-';
/** The test subnet: 10.213.0.0/24, the switch has no address. */
const SUBNET = '10.213.0';
const NETNS_ETC = '/etc/netns';
/** A rule that only counts, in every host, so the kernel tracks connections from the start. */
const CONNTRACK_RULESET = [
  'table inet udns_test_conntrack {',
  '  chain input { type filter hook input priority -10; policy accept; ct state invalid counter; }',
  '  chain output { type filter hook output priority -10; policy accept; ct state invalid counter; }',
  '}',
  '',
].join('\n');

/** One host of the test network. */
export interface NetnsHost {
  /** Short name given to createTestNetwork (`edge`, `sharer` …). */
  readonly name: string;
  /** The namespace's name (for `ip netns exec`). */
  readonly netns: string;
  /** Its IPv4 address on the test subnet. */
  readonly address: string;
}

export interface TestNetwork {
  readonly hosts: Readonly<Record<string, NetnsHost>>;
  /** The host by short name (throws for an unknown one). */
  host(name: string): NetnsHost;
  /**
   * Drops new inbound TCP connections to `host`. With `cutEstablished`, inbound connections
   * that are already open are also reset (the PC's port closed mid-transfer), at the peer's next
   * packet (an ACK of a running download comes at once; an idle connection stays until it
   * sends); connections the host opened itself (its tunnel) are never touched.
   */
  firewall(host: NetnsHost | string, options?: { cutEstablished?: boolean }): Promise<void>;
  /** Removes the firewall: inbound connections are accepted again. */
  unfirewall(host: NetnsHost | string): Promise<void>;
  /** Limits what `host` sends on its link to `mbit` Mbit/s (tc tbf), so a transfer lasts long enough to act during it. */
  throttle(host: NetnsHost | string, mbit: number): Promise<void>;
  unthrottle(host: NetnsHost | string): Promise<void>;
  /**
   * Slows only what `from` sends to `to` down to `kbit` kbit/s (an HTB class on the switch's port
   * towards `to`, chosen by source address): a far-away edge whose answers reach a receiver
   * after a nearby sharer's connection does. `kbit` undefined removes it.
   */
  slowLink(from: NetnsHost | string, to: NetnsHost | string, kbit: number | undefined): Promise<void>;
  /** Starts `command args` inside the host (`ip netns exec`); the process is killed at close(). */
  spawnIn(host: NetnsHost | string, command: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess;
  /** Runs `command args` inside the host to completion. */
  runIn(host: NetnsHost | string, command: string, args: string[], options?: { input?: string; timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Kills everything in the namespaces and removes them; safe to call twice. */
  close(): Promise<void>;
}

/** `ip netns exec <ns>` as a prefix for spawn: the command then runs inside the namespace. */
export function netnsCommand(netns: string, command: string, args: string[]): { command: string; args: string[] } {
  return { command: 'ip', args: ['netns', 'exec', netns, command, ...args] };
}

let support: string | null | undefined;

/**
 * Why namespace tests cannot run on this machine (undefined when they can): not root, no
 * `ip`/`nft`/`tc`, or the kernel refuses a namespace (an unprivileged container). Under CI
 * (which runs as root after `npm run test:setup`) this throws instead, so the tests never
 * skip there silently.
 */
export function netnsSkipReason(): string | undefined {
  if (support === undefined) support = probeSupport();
  if (support !== null && process.env.CI) throw new Error(`network-namespace tests cannot run under CI: ${support}`);
  return support ?? undefined;
}

function probeSupport(): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces and nftables need root (run the tests as root)';
  for (const tool of ['ip', 'nft', 'tc']) {
    try {
      execFileSync(tool, ['-V'], { stdio: 'ignore' });
    } catch {
      return `${tool} is missing: run npm run test:setup (iproute2, nftables)`;
    }
  }
  const probe = `${PREFIX}${process.pid}-probe`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe' });
    execFileSync('ip', ['netns', 'exec', probe, 'nft', 'list', 'tables'], { stdio: 'pipe' });
    return null;
  } catch (error) {
    return `cannot create a network namespace with nftables here: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`;
  } finally {
    try { execFileSync('ip', ['netns', 'del', probe], { stdio: 'ignore' }); } catch { /* was never made */ }
  }
}

/** Networks of this process not closed yet, for the exit hook. */
const open = new Set<string>();
let exitHookInstalled = false;

/**
 * Creates the network: one namespace per name in `hostNames` (addresses 10.213.0.1, .2 … in
 * that order), all on one bridge. `nameserver` names the host whose port 53 every host's
 * resolver asks (the edge with `--dns-port 53`).
 */
export async function createTestNetwork(hostNames: string[], options: { nameserver?: string } = {}): Promise<TestNetwork> {
  if (hostNames.length === 0 || hostNames.length > 200) throw new Error('between 1 and 200 hosts');
  removeStaleNetworks();
  const id = `${PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
  const sw = `${id}-sw`;
  const hosts: Record<string, NetnsHost> = {};
  hostNames.forEach((name, index) => {
    if (!/^[a-z][a-z0-9]{0,15}$/.test(name)) throw new Error(`host name ${name}: lower-case letters and digits`);
    hosts[name] = { name, netns: `${id}-${name}`, address: `${SUBNET}.${index + 1}` };
  });
  open.add(id);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => { for (const network of open) removeNetworkSync(network); });
  }
  const children = new Set<ChildProcess>();
  const ip = async (...args: string[]): Promise<void> => { await run('ip', args); };
  try {
    await ip('netns', 'add', sw);
    await ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', sw, 'link', 'set', 'br0', 'up');
    const nameserver = options.nameserver === undefined ? undefined : hosts[options.nameserver];
    if (options.nameserver !== undefined && !nameserver) throw new Error(`nameserver ${options.nameserver} is not one of the hosts`);
    const hostsFile = ['127.0.0.1 localhost', '::1 localhost ip6-localhost ip6-loopback',
      ...Object.values(hosts).map((host) => `${host.address} ${host.name}.${id}.internal`)].join('\n') + '\n';
    for (const [index, host] of Object.values(hosts).entries()) {
      await ip('netns', 'add', host.netns);
      // Created inside the switch, the host end moved straight into its namespace: no interface ever appears in the root namespace.
      await ip('-n', sw, 'link', 'add', `p${index}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.netns);
      await ip('-n', sw, 'link', 'set', `p${index}`, 'master', 'br0');
      await ip('-n', sw, 'link', 'set', `p${index}`, 'up');
      await ip('-n', host.netns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0');
      await ip('-n', host.netns, 'link', 'set', 'eth0', 'up');
      await ip('-n', host.netns, 'link', 'set', 'lo', 'up');
      // Connection tracking from the first packet on: it starts only once a rule uses it, and a connection it
      // picks up mid-stream gets its direction from whichever packet comes first (cutEstablished needs the real one).
      await runInNetns(host.netns, 'nft', ['-f', '-'], { input: CONNTRACK_RULESET });
      const etc = path.join(NETNS_ETC, host.netns);
      fs.mkdirSync(etc, { recursive: true });
      fs.writeFileSync(path.join(etc, 'hosts'), hostsFile);
      // No nameserver: an unreachable one, so a lookup fails at once instead of asking the machine's resolver.
      fs.writeFileSync(path.join(etc, 'resolv.conf'), `nameserver ${nameserver?.address ?? '127.0.0.1'}\noptions timeout:1 attempts:2\n`);
    }
  } catch (error) {
    removeNetworkSync(id);
    open.delete(id);
    throw error;
  }

  const resolve = (host: NetnsHost | string): NetnsHost => {
    const found = typeof host === 'string' ? hosts[host] : host;
    if (!found || hosts[found.name] !== found) throw new Error(`no host ${typeof host === 'string' ? host : host.name} in this network`);
    return found;
  };
  const nft = async (host: NetnsHost, ruleset: string): Promise<void> => {
    await runInNetns(host.netns, 'nft', ['-f', '-'], { input: ruleset });
  };
  const network: TestNetwork = {
    hosts,
    host: (name) => resolve(name),
    async firewall(target, firewallOptions = {}) {
      const host = resolve(target);
      // A connection the host opened (its tunnel) is in "reply" direction when its packets come in; one opened by a peer is "original".
      // The peer's own RST passes, so the host's socket learns of the reset too (the peer answers its next segment with one).
      const cut = firewallOptions.cutEstablished ? '    meta l4proto tcp ct state established ct direction original tcp flags & rst == 0 reject with tcp reset\n' : '';
      await nft(host, [
        'table inet udns_test_firewall {}',
        'delete table inet udns_test_firewall',
        'table inet udns_test_firewall {',
        '  chain input {',
        '    type filter hook input priority 0; policy accept;',
        '    iif "lo" accept',
        // A SYN without ACK opens a connection: stateless, so connections open before the rule are never mistaken for new ones.
        cut + '    tcp flags & (syn | ack) == syn drop',
        '  }',
        '}',
        '',
      ].join('\n'));
    },
    async unfirewall(target) {
      const host = resolve(target);
      await nft(host, 'table inet udns_test_firewall {}\ndelete table inet udns_test_firewall\n');
    },
    async throttle(target, mbit) {
      const host = resolve(target);
      await run('ip', ['netns', 'exec', host.netns, 'tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', `${mbit}mbit`, 'burst', '64kb', 'latency', '500ms']);
    },
    async unthrottle(target) {
      const host = resolve(target);
      await run('ip', ['netns', 'exec', host.netns, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root']).catch(() => undefined);
    },
    async slowLink(fromTarget, toTarget, kbit) {
      const from = resolve(fromTarget);
      const port = `p${Object.values(hosts).indexOf(resolve(toTarget))}`;
      const tc = (...args: string[]) => run('ip', ['netns', 'exec', sw, 'tc', ...args]);
      await tc('qdisc', 'del', 'dev', port, 'root').catch(() => undefined);
      if (kbit === undefined) return;
      await tc('qdisc', 'add', 'dev', port, 'root', 'handle', '1:', 'htb', 'default', '20');
      await tc('class', 'add', 'dev', port, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', `${kbit}kbit`, 'quantum', '1514');
      await tc('class', 'add', 'dev', port, 'parent', '1:', 'classid', '1:20', 'htb', 'rate', '10gbit', 'quantum', '200000');
      await tc('filter', 'add', 'dev', port, 'parent', '1:', 'protocol', 'ip', 'u32', 'match', 'ip', 'src', `${from.address}/32`, 'flowid', '1:10');
    },
    spawnIn(target, command, args, env = {}) {
      const host = resolve(target);
      const wrapped = netnsCommand(host.netns, command, args);
      const child = spawn(wrapped.command, wrapped.args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    runIn(target, command, args, runOptions = {}) {
      return runInNetns(resolve(target).netns, command, args, runOptions);
    },
    async close() {
      if (!open.has(id)) return;
      for (const child of children) child.kill('SIGKILL');
      await Promise.all([...children].map((child) => new Promise((done) => {
        if (child.exitCode !== null || child.signalCode !== null) done(undefined);
        else child.once('exit', done);
      })));
      removeNetworkSync(id);
      open.delete(id);
    },
  };
  return network;
}

/** Runs a command inside a namespace and collects its output; rejects on a non-zero exit. */
function runInNetns(netns: string, command: string, args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', netns, command, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk; });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk; });
    child.on('error', (error) => { clearTimeout(timer); reject(error); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ code, stdout, stderr });
      else reject(Object.assign(new Error(`${command} ${args.join(' ')} in ${netns} failed (${code ?? signal}): ${stderr.trim()}`), { code, stdout, stderr }));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** Kills every process in the network's namespaces, deletes them and their /etc/netns entries. */
function removeNetworkSync(id: string): void {
  for (const netns of listNetns().filter((name) => name.startsWith(`${id}-`))) {
    try {
      const pids = execFileSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean).map(Number);
      for (const pid of pids) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
      }
    } catch { /* namespace already gone */ }
    try { execFileSync('ip', ['netns', 'del', netns], { stdio: 'ignore' }); } catch { /* already gone */ }
    fs.rmSync(path.join(NETNS_ETC, netns), { recursive: true, force: true });
  }
  // Deleting the host namespaces destroys their veth ends, and with them the switch's.
  try {
    if (fs.existsSync(NETNS_ETC) && fs.readdirSync(NETNS_ETC).length === 0) fs.rmdirSync(NETNS_ETC);
  } catch { /* another network made it again */ }
}

function listNetns(): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((line) => line.split(' ')[0]!).filter(Boolean);
  } catch {
    return [];
  }
}

/** Networks whose creating test process is gone (killed before its exit hook ran). */
function removeStaleNetworks(): void {
  const ids = new Set<string>();
  for (const netns of [...listNetns(), ...(fs.existsSync(NETNS_ETC) ? fs.readdirSync(NETNS_ETC) : [])]) {
    const match = /^(udnst-(\d+)-[0-9a-f]+)-/.exec(netns);
    if (!match) continue;
    const pid = Number(match[2]);
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') ids.add(match[1]!);
    }
  }
  for (const id of ids) removeNetworkSync(id);
}
