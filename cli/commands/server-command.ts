import type { Command } from 'commander';
import type { EdgeHandle } from '../../server/edge.js';
import { say, warn } from '../cli-output.js';
import { lineFormatterFor, resolveLogFormat } from '../log-format.js';
import { endLogStream, logWritten } from '../log-stream.js';

/**
 * How to get the admin token: the token itself only on a terminal; elsewhere (journald, a
 * container log, a pipe) only the path of its 0600 file, so the secret never lands in a log.
 * The login commands shown keep it out of argv and history. Empty when there is nothing to say.
 */
function adminTokenLines(edge: EdgeHandle, toTerminal: boolean): string[] {
  const file = edge.adminTokenFile();
  const server = edge.urls.apex();
  if (edge.initialAdminToken !== null && toTerminal) {
    return [
      'First start: created the account "admin". Its token:',
      `  ${edge.initialAdminToken}`,
      `Log in with \`udns login --server ${server}\` and paste it when asked.`,
      ...(file !== null ? [`Until then it also waits in ${file} (readable by this user only).`] : []),
    ];
  }
  if (file === null) return [];
  return [
    edge.initialAdminToken !== null
      ? `First start: created the account "admin". Its token is in ${file}, readable by this user only and deleted once used. Log in with:`
      : `The admin token in ${file} has not been used yet. Log in with:`,
    `  udns login - --server ${server} < ${file}`,
  ];
}

/**
 * The banner after the edge's "listening" log lines: set apart by a blank line and, on a
 * terminal, framed by rules with the token section under its own rule, so the one-time token
 * is not lost among log lines. Rules only, no side bars: a triple-click on the token's line
 * copies the token and nothing else. Elsewhere, plain lines (a blank line between sections).
 */
export function bannerLines(about: string[], token: string[], terminal: boolean): string[] {
  if (!terminal) return ['', ...about, ...(token.length > 0 ? ['', ...token] : [])];
  const rule = (title: string): string => `── ${title} ${'─'.repeat(Math.max(3, 56 - title.length))}`;
  return [
    '',
    rule('udns edge'),
    ...about,
    ...(token.length > 0 ? [rule('admin token'), ...token] : []),
    '─'.repeat(60),
    '',
  ];
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
    .option('--domain-resolver <host:port>', 'DNS resolver for checking members\' custom-domain proofs (default: the system\'s)')
    .option('--domain-check-interval <duration>', 'how often verified custom domains are checked again (default 1h)')
    .option('--https-redirect', 'send plain-HTTP visitors to HTTPS (ACME challenge paths excepted)')
    .option('--hsts', 'add Strict-Transport-Security to the edge\'s own HTTPS pages')
    .option('--caa <record>', 'CAA record at the apex, e.g. \'0 issue "letsencrypt.org"\' (repeatable)', (value: string, all: string[] = []) => [...all, value])
    .option('--max-visitors-per-tunnel <n>', 'visitor connections one tunnel carries at most (default: what the memory holds, 32 KiB each in an eighth of it, 999 to 65535)')
    .option('--max-visitors-per-network <n>', 'of those, what one IPv4 address or IPv6 /64 may hold (default a quarter of them)')
    .option('--keep-alive-timeout <seconds>', 'close a visitor connection idle this long between requests (default 75)')
    .option('--max-names-per-account <n>', 'names one account may hold (default unlimited; `udns account limits` overrides per account)')
    .option('--account-bandwidth <rate>', 'bytes per second over all of one account\'s routes, e.g. 10MB/s (default unlimited)')
    .option('--route-bandwidth <rate>', 'bytes per second for one route, inside its account\'s (default unlimited)')
    .option('--max-visitors-per-account <n>', 'concurrent visitor connections of one account; over it 429 or a closed TCP connection (default unlimited)')
    .option('--max-visitors-per-route <n>', 'concurrent visitor connections of one route (default unlimited)')
    .option('--search <who>', 'who may search listed shares: public, members (a token) or off (default members)')
    .option('--search-offline <show|hide>', 'results of shares whose agent is offline: show them marked offline, or hide them (default show)')
    .option('--index-max-entries-per-share <n>', 'files one listed share may index (default 250000)')
    .option('--index-max-entries-per-account <n>', 'files all listed shares of one account may index (default 1000000)')
    .option('--index-rate-per-tunnel <n>', 'index updates per second one tunnel may send; its acks wait beyond it (default 5000)')
    .option('--index-rate-per-account <n>', 'the same for all tunnels of one account (default 10000)')
    .option('--offer-timeout <duration>', 'how long the escrow waits for a seller\'s offer before the sale fails, nothing reserved (default 5m)')
    .option('--sale-timeout <duration>', 'how long reserved credits wait for the buyer\'s acceptance before they go back (default 1h)')
    .option('--dispute-window <duration>', 'how long after the key\'s release a buyer may prove a bad file before the seller is paid (default 24h)')
    .option('--trusted-proxy <cidr>', 'network of a proxy or CDN in front of the edge whose X-Forwarded-For/-Proto origins may believe (repeatable)', (value: string, all: string[] = []) => [...all, value])
    .option('--metrics-listen <host:port>', 'Prometheus /metrics on a listener of its own, no token (e.g. 127.0.0.1:9464); the apex\'s /metrics takes the admin token')
    .option('--metrics-max-names <n>', 'accounts and names with their own label in the byte metrics; later ones count as "other" (default 100)')
    .option('--metrics-requests', 'fill the request latency histogram without an access log (each request observed: ~2.5 us CPU)')
    .option('--access-log <file>', 'one JSON line per visitor request (http) or connection (tcp), to a file or - for stderr (default none)')
    .option('--access-log-max-bytes <bytes>', 'rotate the access log past this size, 0 never (default 67108864; SIGHUP reopens it for logrotate)')
    .option('--access-log-keep <n>', 'rotated access logs kept, FILE.1 newest (default 5)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .option('-c, --config <file>', 'YAML file of these settings, keys in camelCase (httpPort: 8080); flags and UDNS_* win over it; SIGHUP re-reads it')
    .option('--check', 'validate the settings (flags, UDNS_*, --config), print every problem, and exit')
    .option('--log-format <pretty|json>', 'short lines for people or JSON lines (default: pretty on a terminal, else json; UDNS_LOG_FORMAT)')
    .action(async ({ logFormat, ...flags }: Record<string, string | string[] | boolean | undefined>) => {
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
      // How lines look is the terminal's business, not the edge's: decided here, not in its config.
      const stderrIsTty = process.stderr.isTTY === true;
      const formatLine = lineFormatterFor(resolveLogFormat(logFormat as string | undefined, process.env, stderrIsTty), process.env, stderrIsTty);
      // Ours, so that stopping can end it before exiting (see endLogStream).
      const logger = createLogger(config.logLevel, 'udns-edge', { formatLine });
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
      const about = [
        `udns edge for ${config.domain}`,
        `  http  port ${edge.httpPort}${config.httpsRedirect ? ' (redirects to https)' : ''}`,
        ...(edge.httpsPort !== undefined ? [`  https port ${edge.httpsPort}${config.acme ? ` (ACME certificate from ${config.acmeDirectory})` : ''}`] : []),
        `  urls  ${edge.urls.apex()}  (names: ${edge.urls.forName('<name>')})`,
        `  dns   ${config.bind} port ${edge.dnsUdpPort} udp, ${edge.dnsTcpPort} tcp`,
        `  data  ${config.databaseUrl ? '(database url)' : config.dataDir}`,
        ...(edge.metricsPort !== undefined ? [`  metrics http://${config.metricsListen!.replace(/:\d+$/, '')}:${edge.metricsPort}/metrics`] : []),
      ];
      const terminal = process.stdout.isTTY === true;
      // After the lines logged while starting, not in between them.
      await logWritten(logger);
      for (const line of bannerLines(about, adminTokenLines(edge, terminal), terminal)) say(line);
    });
}
