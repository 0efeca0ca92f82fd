import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AgentProcess } from '../helpers/agent-process.js';
import { startEdgeProcess, type EdgeProcess } from '../helpers/edge-process.js';
import { eventually } from '../helpers/eventually.js';
import { createTestNetwork, netnsSkipReason, type TestNetwork } from '../helpers/netns.js';
import { expectCleanFailure, runCli, spawnCli } from '../helpers/test-agent.js';

/*
 * The three transfer paths between real hosts: the edge, a sharer and a receiver each in their
 * own network namespace on one private bridge (test/helpers/netns.ts), the real `udns server`,
 * `udns share` and `udns get` processes, and "behind a firewall" played by an nftables rule
 * that drops new inbound TCP connections. The edge's own DNS (port 53 in its namespace) is the
 * resolver of every host, so `files.udns.test` resolves as it would on the internet.
 */

const skip = netnsSkipReason();
const DOMAIN = 'udns.test';
const SERVER = `http://${DOMAIN}`;
const BIG_BYTES = 64 * 1024 * 1024;
/** The file of the path tests: big enough that relaying it dwarfs any control traffic. */
const MEDIUM_BYTES = 8 * 1024 * 1024;
/**
 * What a direct or push download may still add to the edge's relay counter: the share target's
 * HEAD through the edge before the ticket (a few hundred bytes), never a byte of the file.
 */
const CONTROL_BYTES = 64 * 1024;

function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

describe.skipIf(skip !== undefined)(`transfer paths between namespaces${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let net: TestNetwork;
  let edge: EdgeProcess;
  let token: string;
  let work: string;
  let shareDir: string;
  let bigSha: string;
  let mediumSha: string;
  const agents: AgentProcess[] = [];
  let share: AgentProcess;

  /** `udns <args>` as a process inside `host` with the edge's login. */
  const udnsIn = (host: string, args: string[]) => runCli(args, { UDNS_TOKEN: token, UDNS_SERVER: SERVER }, { netns: net.host(host).netns });
  const startAgentIn = async (host: string, args: string[]): Promise<AgentProcess> => {
    const agent = await AgentProcess.start(args, { UDNS_TOKEN: token, UDNS_SERVER: SERVER }, 30_000, { netns: net.host(host).netns });
    agents.push(agent);
    return agent;
  };
  /** curl inside `host`: the body and the address it really connected to. */
  const curlIn = async (host: string, url: string): Promise<{ body: string; remoteIp: string }> => {
    const { stdout } = await net.runIn(host, 'curl', ['-sS', '--fail', '--max-time', '10', '-w', '\n%{remote_ip}', url]);
    const lines = stdout.split('\n');
    return { remoteIp: lines.pop()!, body: lines.join('\n') };
  };

  let downloads = 0;
  /** `udns get <share>/<file> [extra]` in the receiver: its result, the saved file, and what the edge relayed meanwhile. */
  const getIn = async (file: string, extra: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string; saved: string; relayed: number }> => {
    const saved = path.join(work, `download-${++downloads}-${file}`);
    const before = await relayedBytes();
    const result = await udnsIn('receiver', ['get', `${share.url}/${file}`, '-o', saved, '--no-progress', ...extra]);
    return { ...result, saved, relayed: (await relayedBytes()) - before };
  };
  /**
   * Waits until the edge's transfer check of the sharer's port has the given outcome, as the
   * edge told the agent (its 'transfer port check' log line). Not by asking for tickets: each
   * direct ticket would stay armed in the agent, unused, and count towards its limit.
   */
  /** When the sharer's firewall last went up or down: a probe started before may still be in flight. */
  let sharerFirewallChangedAt = 0;
  const firewallSharer = async (options?: { cutEstablished?: boolean }): Promise<void> => {
    await net.firewall('sharer', options);
    sharerFirewallChangedAt = Date.now();
  };
  const unfirewallSharer = async (): Promise<void> => {
    await net.unfirewall('sharer');
    sharerFirewallChangedAt = Date.now();
  };
  /**
   * Waits for the edge's probe of the sharer's transfer port to see the firewall as it is now:
   * an outcome of a probe started after the last change (probes of one port run one at a time,
   * so no older one can land after it).
   */
  const sharerReachable = async (reachable: boolean): Promise<void> => {
    const since = sharerFirewallChangedAt;
    await eventually(`the sharer's transfer port to be ${reachable ? 'reachable' : 'unreachable'} for the edge`, () => {
      const probes = edge.cli.stderr().split('\n').filter((line) => line.includes('"transfer port probed"')).map((line) => JSON.parse(line));
      return probes.some((probe) => probe.startedAt >= since && probe.reachable === reachable) ? true : undefined;
    }, { timeoutMs: 20_000, intervalMs: 100 });
  };

  /** An edge API call from inside `host` (curl), with the admin token. */
  const apiIn = async (host: string, method: string, apiPath: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const args = ['-sS', '--max-time', '20', '-X', method, '-H', `authorization: Bearer ${token}`, '-w', '\n%{http_code}'];
    if (body !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(body));
    const { stdout } = await net.runIn(host, 'curl', [...args, `${SERVER}/api/v1${apiPath}`]);
    const lines = stdout.split('\n');
    const status = Number(lines.pop());
    const text = lines.join('\n');
    return { status, body: text === '' ? undefined : JSON.parse(text) };
  };
  const relayedBytes = async (): Promise<number> => {
    const answer = await apiIn('edge', 'GET', '/stats/relay');
    expect(answer.status).toBe(200);
    return answer.body.relayedBytes as number;
  };

  beforeAll(async () => {
    net = await createTestNetwork(['edge', 'sharer', 'receiver'], { nameserver: 'edge' });
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-paths-'));
    shareDir = path.join(work, 'shared');
    fs.mkdirSync(shareDir);
    fs.writeFileSync(path.join(shareDir, 'small.txt'), 'hello across namespaces\n');
    const big = path.join(shareDir, 'big.bin');
    const fd = fs.openSync(big, 'w');
    for (let written = 0; written < BIG_BYTES; written += 1 << 20) fs.writeSync(fd, randomBytes(1 << 20));
    fs.closeSync(fd);
    bigSha = sha256File(big);
    fs.writeFileSync(path.join(shareDir, 'medium.bin'), randomBytes(MEDIUM_BYTES));
    mediumSha = sha256File(path.join(shareDir, 'medium.bin'));
    const configFile = path.join(work, 'edge.yml');
    // Direct checks every second, so a firewall change shows in DNS within one probe timeout (3 s).
    fs.writeFileSync(configFile, 'directRecheckSeconds: 1\n');
    edge = await startEdgeProcess(['--domain', DOMAIN, '--public-ip', net.host('edge').address, '-c', configFile, '--log-level', 'debug'], {
      netns: net.host('edge').netns, bind: net.host('edge').address, httpPort: 80, dnsPort: 53,
    });
    token = edge.adminToken;
    // Info logs as JSON lines: the agent's 'transfer served' lines say how many bytes went direct or push.
    share = await startAgentIn('sharer', ['share', shareDir, '--name', 'files', '--log-level', 'info', '--log-format', 'json']);
  });

  afterAll(async () => {
    await Promise.all(agents.map((agent) => agent.stop()));
    await edge?.stop();
    await net?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('the harness: names resolve through the edge\'s DNS, hosts reach each other, a firewall drops new inbound connections only', async () => {
    const { stdout } = await net.runIn('receiver', 'getent', ['ahostsv4', DOMAIN]);
    expect(stdout.split('\n')[0]).toMatch(new RegExp(`^${net.host('edge').address.replaceAll('.', '\\.')} `));
    expect((await curlIn('receiver', `${SERVER}/`)).remoteIp).toBe(net.host('edge').address);

    // A listener in the sharer: reachable, then not (timeout, not refused), then again.
    const listener = net.spawnIn('sharer', process.execPath, ['-e', `require('node:http').createServer((q, s) => s.end('open')).listen(8000, () => console.log('up'))`]);
    await new Promise((resolve) => listener.stdout!.once('data', resolve));
    const url = `http://${net.host('sharer').address}:8000/`;
    expect((await curlIn('receiver', url)).body).toBe('open');
    await firewallSharer();
    await expect(net.runIn('receiver', 'curl', ['-sS', '--connect-timeout', '1', url])).rejects.toThrow(/timed out|Timeout/i);
    // The sharer's own outbound connections still work.
    expect((await curlIn('sharer', `${SERVER}/`)).remoteIp).toBe(net.host('edge').address);
    await unfirewallSharer();
    expect((await curlIn('receiver', url)).body).toBe('open');
    listener.kill('SIGKILL');

    // cutEstablished: a connection the receiver opened before is reset (a PC's port closing mid-transfer) at its next packet.
    const stream = `require('node:net').createServer((s) => { s.on('error', () => {}); const t = setInterval(() => s.write('x'), 50); s.on('close', () => { clearInterval(t); console.log('closed'); }); console.log('connected'); }).listen(8002, () => console.log('up'))`;
    const holder = net.spawnIn('sharer', process.execPath, ['-e', stream]);
    let holderOut = '';
    holder.stdout!.on('data', (chunk: Buffer) => { holderOut += chunk; });
    await eventually('the holding server', () => (/up/.test(holderOut) ? true : undefined));
    const held = net.spawnIn('receiver', 'curl', ['-sS', '--http0.9', `http://${net.host('sharer').address}:8002/`]);
    let heldErr = '';
    held.stderr!.on('data', (chunk: Buffer) => { heldErr += chunk; });
    const heldExit = new Promise<number | null>((resolve) => held.once('exit', resolve));
    await eventually('the receiver to connect', () => (/connected/.test(holderOut) ? true : undefined));
    await firewallSharer({ cutEstablished: true });
    try {
      expect(await heldExit).toBe(56);
      expect(heldErr).toMatch(/reset/i);
      // The sharer's end learns it too: the receiver's kernel answers its next segment with a reset, which passes.
      await eventually('the sharer\'s socket to close', () => (/closed/.test(holderOut) ? true : undefined));
      // Its own outbound connections still pass.
      expect((await curlIn('sharer', `${SERVER}/`)).remoteIp).toBe(net.host('edge').address);
    } finally {
      await unfirewallSharer();
      holder.kill('SIGKILL');
    }
  });

  test('relay: a share reached through the edge, also when the sharer is behind a firewall (its tunnel goes out)', async () => {
    expect(share.url).toBe(`http://files.${DOMAIN}`);
    // A visitor without a login: through the edge, as always.
    const out = path.join(work, 'relay-small.txt');
    const first = await runCli(['get', `${share.url}/small.txt`, '-o', out, '--no-progress'], {}, { netns: net.host('receiver').netns });
    expect(first.stderr).toBe('');
    expect(fs.readFileSync(out, 'utf8')).toBe('hello across namespaces\n');

    await firewallSharer();
    try {
      const again = path.join(work, 'relay-small-2.txt');
      const second = await udnsIn('receiver', ['get', `${share.url}/small.txt`, '-o', again, '--no-progress', '--via', 'relay']);
      expect(second.code).toBe(0);
      expect(second.stderr).toBe('udns: transferred via relay\n');
      expect(second.stdout).toMatch(/SHA-256 verified/);
      expect(fs.readFileSync(again, 'utf8')).toBe('hello across namespaces\n');
    } finally {
      await unfirewallSharer();
    }
  });

  describe('the three paths, chosen automatically (the relay counter proves which went through the edge)', () => {
    test('nobody firewalled: direct, and the edge relays none of the file', async () => {
      await sharerReachable(true);
      const got = await getIn('medium.bin');
      expect(got.code).toBe(0);
      expect(got.stderr.trim()).toBe('udns: transferred via direct');
      expect(got.stdout).toMatch(/SHA-256 verified/);
      expect(sha256File(got.saved)).toBe(mediumSha);
      expect(got.relayed).toBeLessThan(CONTROL_BYTES);
    });

    test('the sharer firewalled, the receiver open: push (the sharer connects out), and the edge relays none of the file', async () => {
      await firewallSharer();
      try {
        await sharerReachable(false);
        const got = await getIn('medium.bin');
        expect(got.code).toBe(0);
        expect(got.stderr.trim()).toBe('udns: transferred via push');
        expect(sha256File(got.saved)).toBe(mediumSha);
        expect(got.relayed).toBeLessThan(CONTROL_BYTES);
      } finally {
        await unfirewallSharer();
      }
    });

    test('both firewalled: relay, every byte through the edge', async () => {
      await firewallSharer();
      await net.firewall('receiver');
      try {
        await sharerReachable(false);
        const got = await getIn('medium.bin');
        expect(got.code).toBe(0);
        expect(got.stderr.trim()).toBe('udns: transferred via relay');
        expect(sha256File(got.saved)).toBe(mediumSha);
        expect(got.relayed).toBeGreaterThanOrEqual(MEDIUM_BYTES);
      } finally {
        await net.unfirewall('receiver');
        await unfirewallSharer();
      }
    });
  });

  describe('each path forced with --via', () => {
    test('direct, push and relay each work when forced, and only relay goes through the edge', async () => {
      await sharerReachable(true);
      for (const via of ['direct', 'push', 'relay'] as const) {
        const got = await getIn('medium.bin', ['--via', via]);
        expect(got.code, got.stderr).toBe(0);
        expect(got.stderr.trim()).toBe(`udns: transferred via ${via}`);
        expect(sha256File(got.saved)).toBe(mediumSha);
        if (via === 'relay') expect(got.relayed).toBeGreaterThanOrEqual(MEDIUM_BYTES);
        else expect(got.relayed).toBeLessThan(CONTROL_BYTES);
      }
    });

    test('regression: push when the edge\'s answer reaches the receiver after the sharer\'s connection does (the receiver waits for its ticket instead of refusing the handshake)', async () => {
      // The edge far away (its packets to the receiver at 8 kbit/s), the sharer next door: the
      // agent takes the ticket and connects at once, the edge's answer with the ticket arrives
      // ~0.7 s later. Before: the receiver refused the unknown PSK identity
      // (agent: push failed ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE) and every forced retry raced again.
      await net.slowLink('edge', 'receiver', 8);
      try {
        const got = await getIn('small.txt', ['--via', 'push', '--retries', '1']);
        expect(got.code, got.stderr).toBe(0);
        expect(got.stderr).toBe('udns: transferred via push\n');
        expect(fs.readFileSync(got.saved, 'utf8')).toBe('hello across namespaces\n');
      } finally {
        await net.slowLink('edge', 'receiver', undefined);
      }
    });

    test('a forced path that cannot work fails with one clear line and saves nothing', async () => {
      await firewallSharer();
      await net.firewall('receiver');
      try {
        await sharerReachable(false);
        for (const [via, why] of [['direct', /not reachable from outside/], ['push', /not reachable from the edge/]] as const) {
          const got = await getIn('medium.bin', ['--via', via]);
          expectCleanFailure(got, new RegExp(`^udns: .*${via}.*`));
          expect(got.stderr, got.stderr).toMatch(why);
          expect(fs.existsSync(got.saved)).toBe(false);
        }
      } finally {
        await net.unfirewall('receiver');
        await unfirewallSharer();
      }
    });
  });

  describe('a path that dies in the middle of a file: the download goes on over the next one from the .part offset', () => {
    /**
     * Starts `udns get big.bin` in the receiver with the sharer's link throttled, and freezes it
     * (SIGSTOP) once the .part has a few MiB: whatever happens next, the download cannot have
     * finished over the first path. Returns the process and the .part size when frozen.
     */
    const startFrozenDownload = async (name: string) => {
      await sharerReachable(true);
      await net.throttle('sharer', 40);
      const saved = path.join(work, name);
      const cli = spawnCli(['get', `${share.url}/big.bin`, '-o', saved, '--no-progress'], { UDNS_TOKEN: token, UDNS_SERVER: SERVER }, { netns: net.host('receiver').netns });
      const partSize = () => fs.statSync(`${saved}.part`, { throwIfNoEntry: false })?.size ?? 0;
      await eventually('the direct download to be under way', () => (partSize() >= 2 * 1024 * 1024 ? true : undefined), { timeoutMs: 30_000 });
      cli.child.kill('SIGSTOP');
      const frozenAt = partSize();
      expect(frozenAt).toBeLessThan(BIG_BYTES);
      return { cli, saved, frozenAt };
    };
    const served = (since: number): Array<{ via: string; bytes: number; complete: boolean }> => share.cli.stderr().slice(since).split('\n')
      .filter((line) => line.includes('"transfer served"')).map((line) => JSON.parse(line));

    test('direct broken (the sharer\'s port closes mid-file), receiver open: push carries only the rest, SHA-256 verified', async () => {
      const logFrom = share.cli.stderr().length;
      const { cli, saved, frozenAt } = await startFrozenDownload('fallback-push.bin');
      const before = await relayedBytes();
      await firewallSharer({ cutEstablished: true });
      try {
        await net.unthrottle('sharer');
        cli.child.kill('SIGCONT');
        const { code } = await cli.exited;
        expect(code, cli.stderr()).toBe(0);
        expect(cli.stderr()).toMatch(/the direct path broke; trying the next one/);
        expect(cli.stderr()).toMatch(/transferred via direct, then push/);
        expect(sha256File(saved)).toBe(bigSha);
        const push = await eventually('the agent to report the push', () => served(logFrom).find((line) => line.via === 'push'));
        // The push resumed at the .part offset: at most what was missing when the direct path died.
        expect(push.bytes).toBeGreaterThan(0);
        expect(push.bytes).toBeLessThanOrEqual(BIG_BYTES - frozenAt);
        expect(push.complete).toBe(true);
        expect((await relayedBytes()) - before).toBeLessThan(CONTROL_BYTES);
      } finally {
        cli.child.kill('SIGCONT');
        await net.unthrottle('sharer');
        await unfirewallSharer();
      }
    });

    test('direct broken with the receiver firewalled too: relay carries only the rest (the relay counter says so), SHA-256 verified', async () => {
      const { cli, saved, frozenAt } = await startFrozenDownload('fallback-relay.bin');
      const before = await relayedBytes();
      await net.firewall('receiver');
      await firewallSharer({ cutEstablished: true });
      try {
        await net.unthrottle('sharer');
        cli.child.kill('SIGCONT');
        const { code } = await cli.exited;
        expect(code, cli.stderr()).toBe(0);
        expect(cli.stderr()).toMatch(/transferred via direct, then relay/);
        expect(sha256File(saved)).toBe(bigSha);
        const relayed = (await relayedBytes()) - before;
        expect(relayed).toBeGreaterThan(0);
        expect(relayed).toBeLessThanOrEqual(BIG_BYTES - frozenAt + CONTROL_BYTES);
      } finally {
        cli.child.kill('SIGCONT');
        await net.unthrottle('sharer');
        await net.unfirewall('receiver');
        await unfirewallSharer();
      }
    });
  });

  test('direct mode of an http route: the receiver connects to the sharer itself while it is reachable, through the edge once it is firewalled', async () => {
    const origin = net.spawnIn('sharer', process.execPath, ['-e', `require('node:http').createServer((q, s) => s.end('from the origin')).listen(8001, '127.0.0.1', () => console.log('up'))`]);
    await new Promise((resolve) => origin.stdout!.once('data', resolve));
    const web = spawnCli(['http', '8001', '--name', 'web', '--direct-port', '80'], { UDNS_TOKEN: token, UDNS_SERVER: SERVER }, { netns: net.host('sharer').netns });
    try {
      await web.waitForOutput(/ -> /);
      const sharer = net.host('sharer').address;
      const edgeAddress = net.host('edge').address;
      await eventually('DNS to point web at the sharer', async () => {
        const seen = await curlIn('receiver', `http://web.${DOMAIN}/`);
        return seen.remoteIp === sharer ? seen : undefined;
      }, { timeoutMs: 20_000, intervalMs: 250 });
      expect(web.stderr()).toMatch(new RegExp(`direct: reachable at ${sharer.replaceAll('.', '\\.')}`));

      await firewallSharer();
      const relayed = await eventually('DNS to point web back at the edge', async () => {
        const seen = await curlIn('receiver', `http://web.${DOMAIN}/`).catch(() => undefined);
        return seen?.remoteIp === edgeAddress ? seen : undefined;
      }, { timeoutMs: 20_000, intervalMs: 250 });
      expect(relayed.body).toBe('from the origin');
    } finally {
      await unfirewallSharer();
      web.child.kill('SIGINT');
      await web.exited;
      origin.kill('SIGKILL');
    }
  });
});
