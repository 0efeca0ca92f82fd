/*
 * Linux /proc process stats: who is whose child, and how much CPU a process tree used over a
 * window (the benchmark reports it per process to show which one is the bottleneck).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import type { ManagedProcess } from './processes.js';

/** Clock ticks per second of /proc's utime/stime (USER_HZ); 100 on every common Linux. */
const TICKS_PER_SEC = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime, in ticks. */
  ticks: number;
  /** utime and stime apart, in ticks. */
  userTicks: number;
  systemTicks: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const userTicks = Number(fields[11]);
    const systemTicks = Number(fields[12]);
    return { pid, ppid: Number(fields[1]), ticks: userTicks + systemTicks, userTicks, systemTicks };
  } catch {
    return undefined;
  }
}

/** CPU time `pid` has used so far, in ms of user and of system (kernel) time; zeros where /proc is unavailable. */
export function processCpuMs(pid: number): { user: number; system: number } {
  const stat = readStat(pid);
  return stat === undefined ? { user: 0, system: 0 } : { user: (stat.userTicks * 1000) / TICKS_PER_SEC, system: (stat.systemTicks * 1000) / TICKS_PER_SEC };
}

/** Every process's parent and CPU ticks, from /proc (empty where /proc is unavailable). */
function allStats(): ProcStat[] {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  return entries.filter((name) => /^\d+$/.test(name)).map((name) => readStat(Number(name))).filter((s): s is ProcStat => s !== undefined);
}

/** Pids whose parent is `pid`. */
export function childPids(pid: number): number[] {
  return allStats().filter((stat) => stat.ppid === pid).map((stat) => stat.pid);
}

/**
 * CPU ticks used so far by each root and its live descendants (sshd does its work in
 * per-connection children), keyed by root pid. Empty where /proc is unavailable.
 */
function treeTicks(rootPids: number[]): Map<number, Map<number, number>> {
  const stats = allStats();
  const children = new Map<number, ProcStat[]>();
  for (const stat of stats) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat]);
  const result = new Map<number, Map<number, number>>();
  for (const root of rootPids) {
    const perPid = new Map<number, number>();
    const own = stats.find((s) => s.pid === root);
    const queue = own ? [own] : [];
    while (queue.length > 0) {
      const next = queue.shift()!;
      perPid.set(next.pid, next.ticks);
      queue.push(...(children.get(next.pid) ?? []));
    }
    result.set(root, perPid);
  }
  return result;
}

/** Share of one core each process (with its children) used over a window, 1.0 = a full core. */
export type CpuShares = Record<string, number>;

/** CPU seconds (user + system) each process (with its children) used over a window. */
export type CpuSeconds = Record<string, number>;

/**
 * Runs `work` and reports how much CPU each of `processes` used meanwhile, in seconds and as a
 * fraction of one core. A process that exited during the window is left out.
 */
export async function measureCpu<T>(processes: ManagedProcess[], work: () => Promise<T>): Promise<{ value: T; cpu: CpuShares; cpuSeconds: CpuSeconds }> {
  const tracked = processes.filter((p) => p.running && p.pid !== undefined);
  const pids = tracked.map((p) => p.pid!);
  const before = treeTicks(pids);
  const started = process.hrtime.bigint();
  const value = await work();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const after = treeTicks(pids);
  const cpu: CpuShares = {};
  const cpuSeconds: CpuSeconds = {};
  for (const managed of tracked) {
    const start = before.get(managed.pid!);
    const end = after.get(managed.pid!);
    if (!start || !end || end.size === 0) continue;
    let ticks = 0;
    // A child born during the window counts in full; one that came and went is missed (small).
    for (const [pid, endTicks] of end) ticks += endTicks - (start.get(pid) ?? 0);
    cpuSeconds[managed.name] = ticks / TICKS_PER_SEC;
    cpu[managed.name] = ticks / TICKS_PER_SEC / seconds;
  }
  return { value, cpu, cpuSeconds };
}
