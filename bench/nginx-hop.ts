import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { NginxWorkers } from './bench-options.js';
import { childPids } from './proc-stats.js';
import { freePort, waitForPort, type ProcessGroup } from './processes.js';

const NGINX = '/usr/sbin/nginx';
const START_TIMEOUT_MS = 15_000;

/** A private nginx relaying a loopback port to the origin: the one-hop reverse-proxy reference. */
export interface NginxHop {
  /** The port nginx listens on, on 127.0.0.1. */
  port: number;
  /** `nginx -v`, for the results. */
  version: string;
  /** How many worker processes it runs now (what `auto` came to, once they have started). */
  workerCount(): number;
  stop(): Promise<void>;
}

/**
 * The configuration a careful operator would write for a streaming reverse proxy in front of one
 * origin: kept-alive upstream connections (HTTP/1.1, no `Connection: close`, 64 idle kept per
 * worker), the usual X-Forwarded-* headers (udns adds them too), no access log (udns logs no
 * request either), uploads of any size streamed through instead of spooled to a temp file first,
 * and responses buffered in memory only (udns never spills to disk). Everything nginx writes
 * stays in `dir`.
 */
export function nginxConfig(options: { dir: string; listenPort: number; originPort: number; workers: NginxWorkers }): string {
  const temp = (name: string): string => path.join(options.dir, name);
  return [
    `worker_processes ${options.workers};`,
    `pid ${temp('nginx.pid')};`,
    'error_log stderr warn;',
    'events {',
    '    worker_connections 4096;',
    '}',
    'http {',
    '    access_log off;',
    `    client_body_temp_path ${temp('client-body')};`,
    `    proxy_temp_path ${temp('proxy')};`,
    `    fastcgi_temp_path ${temp('fastcgi')};`,
    `    uwsgi_temp_path ${temp('uwsgi')};`,
    `    scgi_temp_path ${temp('scgi')};`,
    '    keepalive_requests 100000;',
    '    upstream origin {',
    `        server 127.0.0.1:${options.originPort};`,
    '        keepalive 64;',
    '        keepalive_requests 100000;',
    '    }',
    '    server {',
    `        listen 127.0.0.1:${options.listenPort};`,
    '        client_max_body_size 0;',
    '        location / {',
    '            proxy_pass http://origin;',
    '            proxy_http_version 1.1;',
    '            proxy_set_header Connection "";',
    '            proxy_set_header Host $http_host;',
    '            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    '            proxy_set_header X-Forwarded-Proto $scheme;',
    '            proxy_set_header X-Forwarded-Host $http_host;',
    '            proxy_request_buffering off;',
    '            proxy_max_temp_file_size 0;',
    '        }',
    '    }',
    '}',
    '',
  ].join('\n');
}

/**
 * Starts Debian's nginx (`nginx-light`) in the foreground (`daemon off`, so it and its workers
 * stay in this run's process tree and die with it) on a free loopback port, with its config
 * and temp folders in `workDir`, and waits until it accepts connections.
 */
export async function startNginxHop(group: ProcessGroup, options: { originPort: number; workDir: string; workers: NginxWorkers; name?: string }): Promise<NginxHop> {
  if (!fs.existsSync(NGINX)) throw new Error(`${NGINX} not found: install it with npm run test:setup (Debian package nginx-light), or leave the nginx path out with --paths`);
  const dir = fs.mkdtempSync(path.join(options.workDir, 'nginx-'));
  const port = await freePort();
  const config = path.join(dir, 'nginx.conf');
  fs.writeFileSync(config, nginxConfig({ dir, listenPort: port, originPort: options.originPort, workers: options.workers }));
  // -e: errors before the config is read go to stderr, not to /var/log/nginx (may be unwritable).
  const args = ['-e', 'stderr', '-p', dir, '-c', config, '-g', 'daemon off;'];
  execFileSync(NGINX, ['-t', '-q', ...args.slice(0, 6)], { stdio: 'pipe', timeout: 10_000 });
  // In this run's process group (a Ctrl-C reaches it); SIGTERM, nginx's fast shutdown, makes the
  // master stop its workers before it exits.
  const nginx = group.start(options.name ?? 'nginx', NGINX, args);
  await waitForPort(port, START_TIMEOUT_MS, nginx);
  const versionRun = spawnSync(NGINX, ['-v'], { encoding: 'utf8', timeout: 5000 });
  return {
    port,
    version: `${versionRun.stderr ?? ''}${versionRun.stdout ?? ''}`.trim() || 'unknown',
    workerCount: () => (nginx.pid === undefined ? 0 : childPids(nginx.pid).length),
    stop: () => nginx.stop(3000),
  };
}
