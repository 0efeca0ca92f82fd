import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** The parts of a V8 `.cpuprofile` (what `node --cpu-prof` writes) this summary reads. */
interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }>;
  samples?: number[];
  timeDeltas?: number[];
}

/** Time spent in one function (self) or under it (total), in ms and % of busy time. */
export interface FunctionCost {
  name: string;
  location: string;
  ms: number;
  pct: number;
}

/** Where a process's CPU time went, idle time left out of the percentages. */
export interface ProfileSummary {
  file: string;
  sampledMs: number;
  idleMs: number;
  busyMs: number;
  /** Self time grouped by module or Node subsystem (node:http2, http-proxy-3, gc, …). */
  byArea: Array<{ area: string; ms: number; pct: number }>;
  topSelf: FunctionCost[];
  topTotal: FunctionCost[];
}

/** Names the module or subsystem a frame belongs to, for the by-area grouping. */
export function areaOf(functionName: string, url: string): string {
  if (url === '') {
    if (functionName === '(garbage collector)') return 'gc';
    if (functionName === '(program)') return '(program): native, untracked';
    if (functionName === '(idle)' || functionName === '(root)') return 'idle';
    return 'native bindings (I/O, crypto, buffers)';
  }
  const nodeModule = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (nodeModule) return nodeModule[1]!;
  const internal = /^node:(?:internal\/)?([a-z_]+\d?)/.exec(url);
  if (internal) return `node:${internal[1]}`;
  const own = /\/dist\/([a-z-]+)\//.exec(url);
  if (own) return `udns ${own[1]}/`;
  return path.basename(url);
}

/** Summarises one profile: busy time by area, and the top functions by self and total time. */
export function summariseCpuProfile(profile: CpuProfile, file: string, top = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const keyOf = (id: number): string => {
    const frame = byId.get(id)!.callFrame;
    return `${frame.functionName || '(anonymous)'}\u0000${frame.url ? `${frame.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/')}:${frame.lineNumber + 1}` : ''}`;
  };

  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const areas = new Map<string, number>();
  let sampledMs = 0;
  let idleMs = 0;
  for (let i = 0; i < samples.length; i++) {
    // A sample's time is the gap to the next one (DevTools attributes it the same way).
    const ms = (deltas[i + 1] ?? deltas[i] ?? 0) / 1000;
    const id = samples[i]!;
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    sampledMs += ms;
    const area = areaOf(frame.functionName, frame.url);
    if (area === 'idle') {
      idleMs += ms;
      continue;
    }
    areas.set(area, (areas.get(area) ?? 0) + ms);
    const key = keyOf(id);
    self.set(key, (self.get(key) ?? 0) + ms);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const ancestor = keyOf(at);
      if (seen.has(ancestor) || byId.get(at)!.callFrame.functionName === '(root)') continue;
      seen.add(ancestor);
      total.set(ancestor, (total.get(ancestor) ?? 0) + ms);
    }
  }
  const busyMs = sampledMs - idleMs;
  const pct = (ms: number): number => (busyMs > 0 ? (100 * ms) / busyMs : 0);
  const ranked = (costs: Map<string, number>): FunctionCost[] => [...costs]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, ms]) => {
      const [name = '', location = ''] = key.split('\u0000');
      return { name, location, ms, pct: pct(ms) };
    });
  return {
    file,
    sampledMs,
    idleMs,
    busyMs,
    byArea: [...areas].sort((a, b) => b[1] - a[1]).map(([area, ms]) => ({ area, ms, pct: pct(ms) })),
    topSelf: ranked(self),
    topTotal: ranked(total),
  };
}

/** Reads and summarises a `.cpuprofile` file. */
export function summariseCpuProfileFile(file: string, top = 15): ProfileSummary {
  return summariseCpuProfile(JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile, file, top);
}

/** Renders a summary as plain text for the terminal. */
export function formatProfileSummary(summary: ProfileSummary): string {
  const ms = (value: number): string => `${value.toFixed(0).padStart(6)} ms`;
  const lines = [
    `${path.basename(summary.file)}: busy ${summary.busyMs.toFixed(0)} ms of ${summary.sampledMs.toFixed(0)} ms sampled (${((100 * summary.busyMs) / Math.max(summary.sampledMs, 1)).toFixed(0)}%)`,
    '  self time by area:',
    ...summary.byArea.slice(0, 12).map((a) => `  ${ms(a.ms)} ${a.pct.toFixed(1).padStart(5)}%  ${a.area}`),
    '  top functions, self time:',
    ...summary.topSelf.map((f) => `  ${ms(f.ms)} ${f.pct.toFixed(1).padStart(5)}%  ${f.name}  ${f.location}`),
    '  top functions, total time (self + callees):',
    ...summary.topTotal.map((f) => `  ${ms(f.ms)} ${f.pct.toFixed(1).padStart(5)}%  ${f.name}  ${f.location}`),
  ];
  return lines.join('\n');
}

// `node dist/bench/cpu-profile-summary.js <file.cpuprofile>…` prints the summaries.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const file of process.argv.slice(2)) console.log(`${formatProfileSummary(summariseCpuProfileFile(file, 25))}\n`);
}
