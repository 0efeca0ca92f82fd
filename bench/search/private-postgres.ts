import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/*
 * A throwaway PostgreSQL cluster for the search benchmark, the way the tests start one
 * (test/helpers/test-databases.ts, which bench/ cannot import): initdb --no-locale, trust
 * auth, loopback on a free port, stopped and removed when the process exits.
 */

export interface PrivatePostgres {
  readonly url: string;
  stop(): void;
}

/** The newest `/usr/lib/postgresql/<version>/bin` with initdb and pg_ctl, or null. */
export function findPostgresBinaries(): string | null {
  const base = '/usr/lib/postgresql';
  if (!fs.existsSync(base)) return null;
  const versions = fs.readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = path.join(base, version, 'bin');
    if (fs.existsSync(path.join(bin, 'initdb')) && fs.existsSync(path.join(bin, 'pg_ctl'))) return bin;
  }
  return null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts a cluster in a fresh temporary folder (removed on stop), with database `udns`. */
export async function startPrivatePostgres(bin: string): Promise<PrivatePostgres> {
  // Its own folder straight under /tmp: the server runs as `postgres` when we are root and
  // must reach it, which it cannot through another mkdtemp folder (mode 0700, root's).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-search-bench-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) execFileSync('chown', ['postgres:', dir]);
  const pg = (tool: string, args: string[]) =>
    asRoot
      ? execFileSync('runuser', ['-u', 'postgres', '--', path.join(bin, tool), ...args], { stdio: 'ignore' })
      : execFileSync(path.join(bin, tool), args, { stdio: 'ignore' });
  const data = path.join(dir, 'data');
  pg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-locale', '--no-sync']);
  const port = await freePort();
  // Durability off, as in the tests: the benchmark measures queries and index builds, not fsync.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=512MB -c maintenance_work_mem=256MB -c work_mem=32MB`;
  pg('pg_ctl', ['-D', data, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', '-o', options, 'start']);
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    const args = ['-D', data, '-m', 'immediate', '-w', 'stop'];
    if (asRoot) spawnSync('runuser', ['-u', 'postgres', '--', path.join(bin, 'pg_ctl'), ...args], { stdio: 'ignore' });
    else spawnSync(path.join(bin, 'pg_ctl'), args, { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', stop);
  pg('psql', ['-h', dir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', 'CREATE DATABASE udns']);
  return { url: `postgresql://postgres@127.0.0.1:${port}/udns`, stop };
}
