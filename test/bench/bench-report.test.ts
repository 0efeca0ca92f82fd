import { describe, expect, it } from 'vitest';
import type { PathName } from '../../bench/bench-options.js';
import type { DownloadResult } from '../../bench/download.js';
import { PATH_LABELS, analyse, formatReport, hopTotal, perUnit, type PathResult } from '../../bench/report.js';
import type { WrkResult } from '../../bench/wrk.js';

const MIB = 1024 * 1024;

function wrk(requestsPerSec: number, p99: number): WrkResult {
  return {
    requestsPerSec,
    requests: requestsPerSec * 6,
    durationSec: 6,
    latencyMs: { avg: p99 / 3, max: p99 * 2, p50: p99 / 3, p75: p99 / 2, p90: p99 / 1.5, p99 },
    non2xx: 0,
    socketErrors: { connect: 0, read: 0, write: 0, timeout: 0 },
    errorCount: 0,
  };
}

function transfer(mbPerSec: number, expectedBytes = 512 * MIB, bytes = expectedBytes): DownloadResult {
  return { expectedBytes, bytes, seconds: bytes / 1e6 / mbPerSec, mbPerSec, ok: bytes === expectedBytes, status: 200 };
}

function near(path: PathName, rps: number, p99: number, downMbPerSec: number, extra: Partial<PathResult> = {}): PathResult {
  return { path, label: PATH_LABELS[path], loadAvgAtStart: [0.5, 0.5, 0.5], wrk: wrk(rps, p99), download: transfer(downMbPerSec), upload: transfer(downMbPerSec / 2, 256 * MIB), ...extra };
}

function farPath(path: PathName, singleMbPerSec: number, each: number[]): PathResult {
  const downloads = each.map((rate) => transfer(rate, 256 * MIB));
  return {
    path,
    label: PATH_LABELS[path],
    loadAvgAtStart: [0.5, 0.5, 0.5],
    far: {
      oneWayDelayMs: 20,
      single: transfer(singleMbPerSec, 1024 * MIB),
      parallel: { downloads, fairness: Math.min(...each) / Math.max(...each), aggregateMbPerSec: each.reduce((a, b) => a + b, 0) },
    },
  };
}

const goal = (results: PathResult[], start: string) => analyse(results).goals.find((g) => g.goal.startsWith(start));

describe('bench report', () => {
  it('checks the issue 12 goals against the same run: req/s and p99 against nginx, download against ssh -R, the far download and its fairness', () => {
    const results = [
      near('direct', 30_000, 2, 900),
      near('nginx', 20_000, 3, 350),
      near('udns', 17_000, 4.5, 350),
      near('ssh', 4_000, 40, 360),
      farPath('udns-far', 85, [30, 28, 20, 31]),
    ];
    const analysis = analyse(results);
    const lines = analysis.goals.map((g) => `${g.pass} ${g.goal}`);
    expect(lines).toEqual([
      'true udns (raw) req/s >= 0.85x nginx hop',
      'true udns (raw) p99 <= 1.5x nginx hop',
      'false udns (raw) download >= 1.0x ssh -R',
      'true udns far (40 ms RTT) one download >= 80 MB/s',
      'false udns far: 4 downloads at once share fairly (slowest/fastest >= 0.8)',
    ]);
    expect(analysis.vsNginx.find((r) => r.path === 'udns')).toMatchObject({ rps: 0.85, p99: 1.5, download: 1 });
    expect(analysis.vsSsh.find((r) => r.path === 'udns')?.rps).toBeCloseTo(4.25);
    expect(analysis.vsSsh.map((r) => r.path)).toEqual(['nginx', 'udns']);
    expect(analysis.flags).toEqual([]);
  });

  it('a short download is flagged and its goal left undecided rather than passed or failed on a partial rate', () => {
    const results = [
      near('nginx', 20_000, 3, 350),
      near('udns', 10_000, 9, 900, { download: transfer(900, 512 * MIB, 100 * MIB) }),
      near('ssh', 4_000, 40, 360),
    ];
    expect(goal(results, 'udns (raw) download')).toMatchObject({ pass: null });
    expect(goal(results, 'udns (raw) req/s')).toMatchObject({ pass: false });
    expect(analyse(results).flags.join('\n')).toMatch(/udns \(raw\): download moved 104857600 of 536870912 bytes/);
  });

  it('without the reference paths every goal says not measured', () => {
    const goals = analyse([near('udns', 10_000, 9, 300)]).goals;
    expect(goals.every((g) => g.pass === null)).toBe(true);
  });

  it('CPU per unit spreads each process\'s CPU seconds over the work; the hop total leaves out the origin and the delay proxy', () => {
    const costs = perUnit({ 'edge (udns-raw)': 0.6, 'agent (udns-raw)': 0.3, origin: 0.15, 'delay proxy': 0.5 }, 30_000);
    expect(costs).toEqual({ edge: 20, agent: 10, origin: 5, 'delay proxy': 50 / 3 });
    expect(hopTotal(costs)).toBeCloseTo(30);
    expect(perUnit({ nginx: 1 }, 0)).toBeUndefined();
    expect(hopTotal({ origin: 5 })).toBeUndefined();
  });

  it('sets udns against the two-process references; processes of one role add up (a path\'s two nginx hops)', () => {
    const results = [
      near('nginx', 30_000, 2, 350),
      near('nginx2', 20_000, 2.6, 300, { cpuSecondsDuringWrk: { 'nginx (1)': 1.2, 'nginx (2)': 1.2, origin: 1.8 } }),
      near('node2', 16_000, 3.2, 250, { cpuSecondsDuringWrk: { 'pipe relay (1)': 1.92, 'pipe relay (2)': 1.92, origin: 1.44 } }),
      near('udns', 18_000, 4, 400),
      near('udns-ws', 12_000, 6.4, 200),
    ];
    const analysis = analyse(results);
    expect(analysis.vsTwoNginxHops.map((r) => [r.path, r.rps, r.p99])).toEqual([['udns', 0.9, 4 / 2.6], ['udns-ws', 0.6, 6.4 / 2.6]]);
    expect(analysis.vsTwoNodePipes.map((r) => [r.path, r.rps, r.p99])).toEqual([['udns', 1.125, 1.25], ['udns-ws', 0.75, 2]]);
    // The references are measured against one hop like every other path.
    expect(analysis.vsNginx.filter((r) => r.path === 'nginx2' || r.path === 'node2').map((r) => r.rps)).toEqual([2 / 3, 16 / 30]);
    const text = formatReport(results, analysis);
    expect(text).toMatch(/^vs 2 nginx hops\s+req\/s/m);
    expect(text).toMatch(/^udns \(raw\)\s+1\.13x\s+1\.25x\s+1\.60x\s+1\.60x$/m);
    expect(text).toMatch(/^path\s+nginx\s+pipe relay\s+origin\s+hop total$/m);
    expect(text).toMatch(/^2 nginx hops\s+20\.0\s+-\s+15\.0\s+20\.0$/m);
    expect(text).toMatch(/^2 Node pipes\s+-\s+40\.0\s+15\.0\s+40\.0$/m);
    // Each goal against one hop says what the two-process references reached on it.
    expect(text).toMatch(/^ {2}FAIL {2}udns \(raw\) req\/s >= 0\.85x nginx hop: 0\.60x \(18,000 vs 30,000; 2 nginx hops 0\.67x, 2 Node pipes 0\.53x\)$/m);
    expect(text).toMatch(/^ {2}FAIL {2}udns \(raw\) p99 <= 1\.5x nginx hop: 2\.00x \(4\.00 ms vs 2\.00 ms; 2 nginx hops 1\.30x, 2 Node pipes 1\.60x\)$/m);
  });

  it('prints the table, the CPU per request, the far section, the ratios and the goals', () => {
    const udns = near('udns', 17_000, 4.5, 350, { cpuSecondsDuringWrk: { 'edge (udns-raw)': 3.06, 'agent (udns-raw)': 2.04, origin: 1.02 } });
    const results = [near('nginx', 20_000, 3, 350, { cpuSecondsDuringWrk: { nginx: 2.4, origin: 1.2 } }), udns, near('ssh', 4_000, 40, 360), farPath('udns-far', 60, [20, 20, 20, 20]), farPath('ssh-far', 50, [15, 15, 15, 15])];
    const text = formatReport(results, analyse(results));
    expect(text).toMatch(/^udns \(raw\)\s+17,000\s+1\.50\s+4\.50\s/m);
    expect(text).toMatch(/CPU µs per request during wrk/);
    expect(text).toMatch(/^path\s+edge\s+agent\s+nginx\s+origin\s+hop total$/m);
    expect(text).toMatch(/^udns \(raw\)\s+30\.0\s+20\.0\s+-\s+10\.0\s+50\.0$/m);
    expect(text).toMatch(/^nginx hop\s+-\s+-\s+20\.0\s+10\.0\s+20\.0$/m);
    expect(text).toMatch(/^udns far\s+60\.0\s+20\.0 20\.0 20\.0 20\.0\s+1\.00\s+80\.0$/m);
    expect(text).toMatch(/udns far vs ssh -R far: one download 1\.20x, concurrent total 1\.33x/);
    expect(text).toMatch(/^vs nginx hop\s+req\/s/m);
    expect(text).toMatch(/^ {2}FAIL {2}udns far \(40 ms RTT\) one download >= 80 MB\/s: 60\.0 MB\/s over 1024 MiB$/m);
  });
});
