import type { Command } from 'commander';
import type { EdgeHandle } from '../../server/edge.js';
import { say, warn } from '../cli-output.js';
import { endLogStream } from '../log-stream.js';

/**
 * Tells the person starting the edge how to get the admin token: the token itself only on a
 * terminal; elsewhere (journald, a container log, a pipe) only the path of its 0600 file, so
 * the secret never lands in a log. The login commands shown keep it out of argv and history.
 */
function sayAdminToken(edge: EdgeHandle, toTerminal: boolean): void {
  const file = edge.adminTokenFile();
  const server = edge.urls.apex();
  const fromFile = `  udns login - --server ${server} < ${file}`;
  if (edge.initialAdminToken !== null && toTerminal) {
    say('');
    say('First start: created the account "admin". Its token:');
    say(`  ${edge.initialAdminToken}`);
    say(`Log in with \`udns login --server ${server}\` and paste it when asked.`);
    if (file !== null) say(`Until then it also waits in ${file} (readable by this user only).`);
  } else if (file !== null) {
    say('');
    say(edge.initialAdminToken !== null
      ? `First start: created the account "admin". Its token is in ${file}, readable by this user only and deleted once used. Log in with:`
      : `The admin token in ${file} has not been used yet. Log in with:`);
    say(fromFile);
  }
}

/** `udns server`: runs the edge (HTTP, tunnels, DNS) until SIGINT/SIGTERM. */
export function registerServerCommand(program: Command): void {
  program.command('server')
    .description('run the edge: tunnel endpoint, HTTP proxy, TCP forwards and authoritative DNS')
    .option('--domain <domain>', 'zone the edge serves names under (default localhost)')
    .option('--http-port <port>', 'HTTP listener for visitors, API and agents (default 8080)')
    .option('--dns-port <port>', 'authoritative DNS, UDP and TCP (default 5300)')
    .option('--public-ip <ipv4>', 'address the zone hands out (default 127.0.0.1)')
    .option('--public-ip6 <ipv6>', 'IPv6 address the zone hands out (AAAA)')
    .option('--public-url <url>', 'how visitors reach the HTTP listener, when a proxy sits in front')
    .option('--data-dir <dir>', 'SQLite database and state (default ./.udns)')
    .option('--database-url <url>', 'file:… for SQLite or postgres://… for PostgreSQL')
    .option('--tcp-ports <range>', 'ports for TCP forwards (default 20000-20999)')
    .option('--bind <address>', 'listen address (default 0.0.0.0)')
    .option('--https-port <port>', 'HTTPS listener for visitors, API and agents (needs --tls-cert/--tls-key or --acme)')
    .option('--tls-cert <file>', 'PEM certificate chain: a wildcard for *.<domain> and <domain>')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--acme', 'obtain and renew a *.<domain> + <domain> certificate with ACME DNS-01 (Let\'s Encrypt by default)')
    .option('--acme-directory <url>', 'ACME directory URL (default Let\'s Encrypt production)')
    .option('--acme-email <email>', 'contact address for the ACME account')
    .option('--acme-ca <file>', 'PEM CA to trust for the ACME server\'s HTTPS (private ACME servers)')
    .option('--https-redirect', 'send plain-HTTP visitors to HTTPS (ACME challenge paths excepted)')
    .option('--hsts', 'add Strict-Transport-Security to the edge\'s own HTTPS pages')
    .option('--caa <record>', 'CAA record at the apex, e.g. \'0 issue "letsencrypt.org"\' (repeatable)', (value: string, all: string[] = []) => [...all, value])
    .option('--max-visitors-per-tunnel <n>', 'visitor connections one tunnel carries at most (default 999)')
    .option('--max-visitors-per-network <n>', 'of those, what one IPv4 address or IPv6 /64 may hold (default 249)')
    .option('--keep-alive-timeout <seconds>', 'close a visitor connection idle this long between requests (default 75)')
    .option('--trusted-proxy <cidr>', 'network of a proxy or CDN in front of the edge whose X-Forwarded-For/-Proto origins may believe (repeatable)', (value: string, all: string[] = []) => [...all, value])
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .option('-c, --config <file>', 'YAML file of these settings, keys in camelCase (httpPort: 8080); flags and UDNS_* win over it; SIGHUP re-reads it')
    .option('--check', 'validate the settings (flags, UDNS_*, --config), print every problem, and exit')
    .action(async (flags: Record<string, string | string[] | boolean | undefined>) => {
      // Loaded here: the edge (Prisma, express, DNS) would slow every other command's start-up.
      const { readEdgeSettings, reloadOnSighup } = await import('../edge-settings.js');
      const { startEdge } = await import('../../server/edge.js');
      const { createLogger } = await import('../../server/logger.js');
      const settings = readEdgeSettings(flags);
      const config = settings.load();
      if (settings.check) {
        say(`${settings.file ?? 'settings'}: ok`);
        return;
      }
      // Ours, so that stopping can end it before exiting (see endLogStream).
      const logger = createLogger(config.logLevel, 'udns-edge');
      const edge = await startEdge(config, { logger }).catch(async (error: unknown) => {
        await endLogStream(logger);
        throw error;
      });
      // Before the banner: whoever sees it may stop the edge at once, and must not kill it mid-way.
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        warn(`${signal}: stopping`);
        edge.close().then(
          () => endLogStream(logger).then(() => process.exit(0)),
          () => endLogStream(logger).then(() => process.exit(1)),
        );
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
      reloadOnSighup(edge, logger, settings);
      say(`udns edge for ${config.domain}`);
      say(`  http  port ${edge.httpPort}${config.httpsRedirect ? ' (redirects to https)' : ''}`);
      if (edge.httpsPort !== undefined) say(`  https port ${edge.httpsPort}${config.acme ? ` (ACME certificate from ${config.acmeDirectory})` : ''}`);
      say(`  urls  ${edge.urls.apex()}  (names: ${edge.urls.forName('<name>')})`);
      say(`  dns   ${config.bind} port ${edge.dnsUdpPort} udp, ${edge.dnsTcpPort} tcp`);
      say(`  data  ${config.databaseUrl ? '(database url)' : config.dataDir}`);
      sayAdminToken(edge, process.stdout.isTTY === true);
    });
}
