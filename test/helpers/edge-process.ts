import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnCli, type CliProcess, type CliSpawnOptions } from './test-agent.js';

/** The edge as a real `udns server` process: what a crash would take down. */
export interface EdgeProcess {
  cli: CliProcess;
  dataDir: string;
  httpPort: number;
  /** Set when started with `--https-port`. */
  httpsPort: number | undefined;
  adminToken: string;
  /** `http://127.0.0.1:<port>` */
  serverUrl: string;
  /** True while the process has not exited. */
  alive(): boolean;
  /** SIGTERM, then SIGKILL if it lingers; resolves once it is gone. */
  stop(): Promise<void>;
}

/**
 * Starts `udns server` on port 0 for HTTP and DNS (plus `extraArgs`), in its own data dir, and
 * reads the bound ports and the first-start admin token from its banner. In a network namespace
 * (`netns`, test/helpers/netns.ts) pass the ports and `bind` the namespace's address; `serverUrl`
 * then names that address.
 */
export async function startEdgeProcess(
  extraArgs: string[] = [],
  options: { dataDir?: string; bind?: string; httpPort?: number; dnsPort?: number } & CliSpawnOptions = {},
): Promise<EdgeProcess> {
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'udns-edge-proc-'));
  const bind = options.bind ?? '127.0.0.1';
  const cli = spawnCli([
    'server', '--http-port', String(options.httpPort ?? 0), '--dns-port', String(options.dnsPort ?? 0), '--bind', bind, '--tcp-ports', '31000-31999',
    '--data-dir', dataDir, '--log-level', 'warn', ...extraArgs,
  ], {}, { netns: options.netns });
  const banner = await cli.waitForOutput(new RegExp(` dns +${bind.replaceAll('.', '\\.')} port \\d+[\\s\\S]*?(\n\n|data .*\n)`), 30_000);
  const httpPort = Number(/ http +port (\d+)/.exec(banner)![1]);
  const https = / https port (\d+)/.exec(banner);
  let exited = false;
  void cli.exited.then(() => { exited = true; });
  // A fresh data dir names the admin token's file right after the banner (stdout is no terminal).
  if (options.dataDir === undefined && !/udns login/.test(cli.stdout())) await cli.waitForOutput(/udns login \S+/, 5000);
  const tokenFile = path.join(dataDir, 'admin-token');
  const token = options.dataDir === undefined ? fs.readFileSync(tokenFile, 'utf8').trim() : '';
  return {
    cli,
    dataDir,
    httpPort,
    httpsPort: https ? Number(https[1]) : undefined,
    adminToken: token,
    serverUrl: `http://${bind}:${httpPort}`,
    alive: () => !exited && cli.child.exitCode === null && cli.child.signalCode === null,
    async stop() {
      if (exited) return;
      cli.child.kill('SIGTERM');
      const timer = setTimeout(() => cli.child.kill('SIGKILL'), 5000);
      await cli.exited;
      clearTimeout(timer);
    },
  };
}
