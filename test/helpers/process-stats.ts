import fs from 'node:fs';

/** What the kernel says one process holds right now (Linux /proc). */
export interface ProcessStats {
  /** Resident set size, KiB (VmRSS). */
  rssKiB: number;
  /** Open file descriptors (entries of /proc/<pid>/fd): sockets, files, pipes, epoll. */
  fds: number;
}

/** Reads VmRSS and the fd count of `pid`; undefined once the process is gone. */
export function readProcessStats(pid: number): ProcessStats | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    if (!rss) return undefined;
    return { rssKiB: Number(rss[1]), fds: fs.readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return undefined;
  }
}

/** Whether /proc has per-process stats here (Linux); the soak needs them. */
export function hasProcStats(): boolean {
  return readProcessStats(process.pid) !== undefined;
}
