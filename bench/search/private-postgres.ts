import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/*
 * A throwaway PostgreSQL cluster: initdb --no-locale, trust auth, loopback on a free port, its
 * unix socket in its own temp folder, durability off. The search benchmark and the tests
 * (test/helpers/test-databases.ts) both start theirs here: it lives in bench/ because the
 * build compiles bench/ but not test/, and the tests may import from anywhere.
 */

const run = promisify(execFile);

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

/** A running cluster; only its `postgres` database exists. */
export interface PostgresCluster {
  /** Its temp folder (data, log, unix socket), removed by stop(). */
  readonly dir: string;
  readonly port: number;
  /** The URL of `database` on it, as user `postgres` over loopback TCP. */
  url(database: string): string;
  /** Runs one of the cluster's tools (`psql` …) as the user that owns it. */
  tool(name: string, args: string[]): Promise<void>;
  /** Stops it at once and removes its folder; synchronous so that it can run on process exit. */
  stop(): void;
}

export interface PostgresClusterOptions {
  /** Prefix of the temp folder's name. */
  readonly prefix: string;
  /** Extra server settings (`name=value`), e.g. memory for a benchmark. */
  readonly settings?: readonly string[];
}

/**
 * Starts a cluster in a fresh temp folder. As root, runs it as the `postgres` OS user (initdb
 * refuses root), in a folder straight under the temp dir that it owns: it could not reach one
 * inside another mkdtemp folder (mode 0700, root's).
 */
export async function startPostgresCluster(bin: string, options: PostgresClusterOptions): Promise<PostgresCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), options.prefix));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) await run('chown', ['postgres:', dir]);
  const command = (tool: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', path.join(bin, tool), ...args]] : [path.join(bin, tool), args];
  const tool = async (name: string, args: string[]): Promise<void> => {
    await run(...command(name, args));
  };
  const data = path.join(dir, 'data');
  await tool('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-locale', '--no-sync']);
  const port = await freePort();
  // Durability off: throwaway data, and fsync would measure the disk rather than our queries.
  const settings = ['listen_addresses=127.0.0.1', 'fsync=off', 'synchronous_commit=off', 'full_page_writes=off', ...(options.settings ?? [])];
  const serverOptions = [`-p ${port}`, `-k ${dir}`, ...settings.map((s) => `-c ${s}`)].join(' ');
  await tool('pg_ctl', ['-D', data, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', '-o', serverOptions, 'start']);
  let stopped = false;
  return {
    dir,
    port,
    url: (database) => `postgresql://postgres@127.0.0.1:${port}/${database}`,
    tool,
    stop() {
      if (stopped) return;
      stopped = true;
      spawnSync(...command('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']), { stdio: 'ignore' });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The search benchmark's database. */
export interface PrivatePostgres {
  readonly url: string;
  stop(): void;
}

/** Starts a cluster for the benchmark, with database `udns`, stopped when the process exits. */
export async function startPrivatePostgres(bin: string): Promise<PrivatePostgres> {
  const cluster = await startPostgresCluster(bin, {
    prefix: 'udns-search-bench-pg-',
    settings: ['shared_buffers=512MB', 'maintenance_work_mem=256MB', 'work_mem=32MB'],
  });
  process.on('exit', cluster.stop);
  await cluster.tool('psql', ['-h', cluster.dir, '-p', String(cluster.port), '-U', 'postgres', '-d', 'postgres', '-c', 'CREATE DATABASE udns']);
  return { url: cluster.url('udns'), stop: cluster.stop };
}
