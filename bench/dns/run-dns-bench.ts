/*
 * `npm run bench:dns`: queries per second of udns's DNS server next to NSD's, in one run, on
 * the same zone (~1000 claimed names), the same dnsperf query file and the same duration,
 * over UDP and TCP, loopback only. Prints a table with the udns/NSD ratio and writes JSON to
 * bench/results/.
 *
 *   node dist/bench/dns/run-dns-bench.js [--duration 10] [--warmup 2] [--names 1000]
 *     [--clients 4] [--outstanding 100] [--modes udp,tcp] [--profile DIR]
 *
 * `--profile DIR` runs the udns server under `node --cpu-prof` and leaves its profile in DIR
 * (open it in Chrome DevTools' Performance tab, or any .cpuprofile viewer).
 */
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import dns2 from 'dns2';
import { measureCpu } from '../proc-stats.js';
import { ProcessGroup, type ManagedProcess } from '../processes.js';
import { BENCH_DOMAIN, benchQueries, nameOf } from './bench-zone.js';
import { runDnsperf, type DnsperfResult } from './dnsperf.js';
import { startNsd } from './nsd-server.js';

const { Packet } = dns2;
type Mode = 'udp' | 'tcp';
type ServerName = 'udns' | 'nsd';

interface Options {
  durationSec: number;
  warmupSec: number;
  names: number;
  clients: number;
  outstanding: number;
  modes: Mode[];
  /** Directory for the udns server's CPU profile, when asked for. */
  profileDir: string | undefined;
}

/** One measured run. */
interface Measurement {
  mode: Mode;
  server: ServerName;
  dnsperf: DnsperfResult;
  /** Share of one core the server used during the run (1.0 = a full core). */
  serverCpu: number | undefined;
  /**
   * Server CPU time (user + system) per completed query, in microseconds: unlike the rate,
   * this barely moves when other work shares the machine.
   */
  serverCpuUsPerQuery: number | undefined;
  /** os.loadavg() just before and just after the run: 1, 5, 15 minutes. */
  loadBefore: number[];
  loadAfter: number[];
}

const USAGE = 'usage: run-dns-bench [--duration S] [--warmup S] [--names N] [--clients N] [--outstanding N] [--modes udp,tcp] [--profile DIR]';
const progress = (message: string): void => void process.stderr.write(`bench:dns: ${message}\n`);

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      names: { type: 'string', default: '1000' },
      clients: { type: 'string', default: '4' },
      outstanding: { type: 'string', default: '100' },
      modes: { type: 'string', default: 'udp,tcp' },
      profile: { type: 'string' },
    },
  });
  const whole = (name: string, value: string, min: number, max: number): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}, got ${value}\n${USAGE}`);
    return parsed;
  };
  const modes = values.modes.split(',').map((mode) => mode.trim());
  for (const mode of modes) if (mode !== 'udp' && mode !== 'tcp') throw new Error(`--modes takes udp and/or tcp, got ${mode}\n${USAGE}`);
  return {
    durationSec: whole('duration', values.duration, 1, 300),
    warmupSec: whole('warmup', values.warmup, 0, 60),
    names: whole('names', values.names, 1, 9999),
    clients: whole('clients', values.clients, 1, 256),
    outstanding: whole('outstanding', values.outstanding, 1, 10_000),
    modes: modes as Mode[],
    profileDir: values.profile === undefined ? undefined : path.resolve(values.profile),
  };
}

function requireTools(): void {
  const missing = ['dnsperf', 'nsd'].filter((tool) => spawnSync(tool, ['-h'], { stdio: 'ignore' }).error !== undefined);
  if (missing.length > 0) {
    throw new Error(`${missing.join(' and ')} not found: install the Debian packages (apt-get install ${missing.join(' ')}, or npm run test:setup)`);
  }
}

function repoRoot(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bench'))) return dir;
  }
  throw new Error('cannot find the udns checkout (package.json next to bench/)');
}

/** One UDP question → "RCODE type data, …" (answers sorted), to check both servers agree. */
function ask(port: number, name: string, type: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const query = new Packet();
    query.header = new Packet.Header({ id: 4242, rd: 0 });
    query.questions = [new Packet.Question(name, type, Packet.CLASS.IN)];
    const timer = setTimeout(() => finish(() => reject(new Error(`no answer from port ${port} to ${name}`))), 3000);
    const finish = (settle: () => void): void => {
      clearTimeout(timer);
      socket.close();
      settle();
    };
    socket.on('message', (message) => {
      const reply = Packet.parse(message);
      const records = reply.answers.map((r) => `${Packet.typeName(r.type)} ${r.ttl} ${r.address ?? r.domain ?? (r.data as string[] | undefined)?.join('') ?? r.ns ?? r.value ?? r.serial ?? ''}`).sort();
      const rcode = Object.entries(Packet.RCODE).find(([, code]) => code === reply.header.rcode)?.[0];
      finish(() => resolve(`${rcode} ${reply.header.aa ? 'aa' : ''} ${records.join(', ')}`));
    });
    socket.send(query.toBuffer(), port, '127.0.0.1');
  });
}

/** Checks that both servers answer a sample of the benchmark's questions alike. */
async function checkSameAnswers(udnsPort: number, nsdPort: number, names: number): Promise<void> {
  const sample: Array<[string, number]> = [
    [BENCH_DOMAIN, Packet.TYPE.SOA], [BENCH_DOMAIN, Packet.TYPE.NS], [BENCH_DOMAIN, Packet.TYPE.A], [BENCH_DOMAIN, Packet.TYPE.CAA],
    [`${nameOf(1)}.${BENCH_DOMAIN}`, Packet.TYPE.A], [`${nameOf(2)}.${BENCH_DOMAIN}`, Packet.TYPE.AAAA],
    [`missing10.${BENCH_DOMAIN}`, Packet.TYPE.A], [`${nameOf(1)}.${BENCH_DOMAIN}`, Packet.TYPE.TXT],
  ];
  if (names >= 50) {
    sample.push([`${nameOf(10)}.${BENCH_DOMAIN}`, Packet.TYPE.TXT], [`www.${nameOf(10)}.${BENCH_DOMAIN}`, Packet.TYPE.A], [`${nameOf(50)}.${BENCH_DOMAIN}`, Packet.TYPE.A]);
  }
  const differences: string[] = [];
  for (const [name, type] of sample) {
    const [ours, theirs] = await Promise.all([ask(udnsPort, name, type), ask(nsdPort, name, type)]);
    if (ours !== theirs) differences.push(`${name} ${Packet.typeName(type)}: udns "${ours}" / nsd "${theirs}"`);
  }
  if (differences.length > 0) throw new Error(`udns and NSD answer differently, the comparison would be meaningless:\n${differences.join('\n')}`);
}

const fixed = (value: number, digits: number): string => value.toFixed(digits);
const load = (values: number[]): string => values.map((v) => v.toFixed(2)).join(' ');

function formatReport(options: Options, measurements: Measurement[]): string {
  const header = ['mode', 'server', 'qps', 'avg ms', 'sd ms', 'max ms', 'lost', 'resp B', 'server CPU', 'CPU µs/query', 'load avg before', 'load avg after'];
  const rows = measurements.map((m) => [
    m.mode, m.server, fixed(m.dnsperf.qps, 0), fixed(m.dnsperf.latencyAvgMs, 3), fixed(m.dnsperf.latencyStdDevMs, 3), fixed(m.dnsperf.latencyMaxMs, 1),
    String(m.dnsperf.queriesLost), String(m.dnsperf.responseBytes), m.serverCpu === undefined ? '-' : `${fixed(m.serverCpu * 100, 0)}%`,
    m.serverCpuUsPerQuery === undefined ? '-' : fixed(m.serverCpuUsPerQuery, 1),
    load(m.loadBefore), load(m.loadAfter),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]): string => cells.map((cell, column) => (column < 2 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  const lines = [
    `DNS benchmark: ${options.names} claimed names, dnsperf -c ${options.clients} -q ${options.outstanding} -e, ${options.durationSec} s per run after ${options.warmupSec} s warm-up, loopback, ${os.cpus().length} cores`,
    '',
    line(header),
    ...rows.map(line),
    '',
  ];
  for (const mode of options.modes) {
    const udns = measurements.find((m) => m.mode === mode && m.server === 'udns');
    const nsd = measurements.find((m) => m.mode === mode && m.server === 'nsd');
    if (!udns || !nsd) continue;
    const cpu = udns.serverCpuUsPerQuery !== undefined && nsd.serverCpuUsPerQuery !== undefined
      ? `, CPU per query ${fixed(udns.serverCpuUsPerQuery / nsd.serverCpuUsPerQuery, 2)}x`
      : '';
    lines.push(`${mode}: udns/NSD qps ${fixed(udns.dnsperf.qps / nsd.dnsperf.qps, 3)}  (latency ${fixed(udns.dnsperf.latencyAvgMs / nsd.dnsperf.latencyAvgMs, 1)}x${cpu})`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  requireTools();
  const root = repoRoot();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-dns-bench-'));
  const group = new ProcessGroup();
  const stopEverything = async (): Promise<void> => {
    await group.stopAll(3000);
    fs.rmSync(workDir, { recursive: true, force: true });
  };
  process.once('exit', () => group.killAllNow());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      progress(`${signal}: stopping`);
      void stopEverything().then(() => process.exit(130));
    });
  }
  // Bounded: every run plus generous start-up and shutdown time, then everything is killed.
  const budgetSec = options.modes.length * 2 * (options.durationSec + options.warmupSec + 35) + 60;
  const watchdog = setTimeout(() => {
    progress(`still running after ${budgetSec} s: killing everything`);
    group.killAllNow();
    fs.rmSync(workDir, { recursive: true, force: true });
    process.exit(2);
  }, budgetSec * 1000);
  watchdog.unref();

  try {
    const queryFile = path.join(workDir, 'queries.txt');
    fs.writeFileSync(queryFile, benchQueries(options.names));
    progress(`zone of ${options.names} names; ${benchQueries(options.names).split('\n').length - 1} distinct queries`);

    const serverScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'udns-dns-server.js');
    const profiling = options.profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.profileDir];
    if (options.profileDir !== undefined) progress(`udns's CPU profile goes to ${options.profileDir} when it stops (warm-ups and both modes included)`);
    const udns = group.start('udns dns', process.execPath, [...profiling, serverScript, String(options.names)], { keepStdin: true });
    const [, udpPort, tcpPort] = await udns.waitForLine(/^ready (\d+) (\d+)$/, 15_000);
    const nsdDir = path.join(workDir, 'nsd');
    fs.mkdirSync(nsdDir);
    const nsd = await startNsd(group, nsdDir, options.names);
    progress(`udns on udp ${udpPort} / tcp ${tcpPort}, nsd on ${nsd.port}`);
    await checkSameAnswers(Number(udpPort), nsd.port, options.names);
    progress('both servers give the same answers to the sample questions');

    const servers: Array<{ name: ServerName; process: ManagedProcess; port: (mode: Mode) => number }> = [
      { name: 'udns', process: udns, port: (mode) => Number(mode === 'udp' ? udpPort : tcpPort) },
      { name: 'nsd', process: nsd.process, port: () => nsd.port },
    ];
    const measurements: Measurement[] = [];
    for (const mode of options.modes) {
      for (const server of servers) {
        const run = { port: server.port(mode), mode, queryFile, clients: options.clients, outstanding: options.outstanding };
        if (options.warmupSec > 0) await runDnsperf(group, { ...run, durationSec: options.warmupSec });
        progress(`${server.name} over ${mode}: dnsperf ${options.durationSec} s`);
        const loadBefore = os.loadavg();
        const measured = await measureCpu([server.process], () => runDnsperf(group, { ...run, durationSec: options.durationSec }));
        const cpuSeconds = measured.cpuSeconds[server.process.name];
        const completed = measured.value.queriesCompleted;
        measurements.push({
          mode, server: server.name, dnsperf: measured.value, serverCpu: measured.cpu[server.process.name],
          serverCpuUsPerQuery: cpuSeconds === undefined || completed === 0 ? undefined : (cpuSeconds * 1e6) / completed,
          loadBefore, loadAfter: os.loadavg(),
        });
      }
    }

    const report = formatReport(options, measurements);
    process.stdout.write(`${report}\n`);
    const resultsDir = path.join(root, 'bench', 'results');
    fs.mkdirSync(resultsDir, { recursive: true });
    const file = path.join(resultsDir, `dns-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    const versions = { node: process.version, nsd: spawnSync('nsd', ['-v'], { encoding: 'utf8' }).stderr.split('\n')[0], dnsperf: spawnSync('dnsperf', ['-h'], { encoding: 'utf8' }).stderr.match(/Version [\d.]+/)?.[0] };
    fs.writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), options, versions, cores: os.cpus().length, measurements }, null, 2)}\n`);
    process.stdout.write(`written to ${path.relative(root, file)}\n`);
  } finally {
    await stopEverything();
    clearTimeout(watchdog);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:dns: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
