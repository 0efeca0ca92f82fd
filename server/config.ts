import { z } from 'zod';
import { isIP } from 'node:net';
import {
  DEFAULT_DISPUTE_WINDOW_MS, DEFAULT_KEEP_ALIVE_IDLE_MS, DEFAULT_OFFER_TIMEOUT_MS, DEFAULT_SALE_TIMEOUT_MS, DEFAULT_VISITOR_STREAMS_PER_NETWORK, DEFAULT_VISITOR_STREAMS_PER_TUNNEL,
  DIRECT_RECHECK_INTERVAL_MS, MAX_VISITOR_STREAMS_PER_TUNNEL, UdnsError,
} from '../protocol/index.js';
import { LOG_LEVELS } from './logger.js';
import { parseProxyNetwork } from './proxy/trusted-proxies.js';
import type { EdgeConfigFileLayer } from './config-file.js';
import { DEFAULT_METRICS_MAX_NAMES } from './metrics/label-budget.js';
import { parseListenAddress } from './metrics/listen-address.js';
import { BYTE_RATE_HINT, MAX_BYTE_RATE, MIN_BYTE_RATE, parseByteRate } from './quotas/byte-rate.js';

/** Let's Encrypt's production ACME directory, the `--acme-directory` default. */
export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

const port = z.coerce.number().int().min(0).max(65535);

const domain = z.string()
  .transform((value) => value.toLowerCase().replace(/\.$/, ''))
  .refine((value) => /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(value), 'must be a domain name such as example.net');

const portRange = z.string()
  .regex(/^\d{1,5}-\d{1,5}$/, 'must look like 20000-20999')
  .transform((value) => value.split('-').map(Number) as [number, number])
  .refine(([low, high]) => low >= 1 && high <= 65535 && low <= high, 'must be an increasing range within 1-65535')
  .transform(([low, high]) => ({ low, high }));

const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration such as `500ms`, `30s`, `5m`, `24h`, `7d` or `1h30m`, in milliseconds (a number is
 * taken as milliseconds already); from 100 ms to 30 days.
 */
const duration = z.preprocess((value) => {
  if (typeof value !== 'string') return value;
  const text = value.trim().toLowerCase();
  if (!/^(?:\d+(?:ms|s|m|h|d))+$/.test(text)) return value;
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)(ms|s|m|h|d)/g)) ms += Number(amount) * DURATION_MS[unit!]!;
  return ms;
}, z.number({ error: 'must be a duration such as 30s, 5m, 24h or 1h30m' }).int().min(100, 'must be at least 100ms').max(30 * 86_400_000, 'must be at most 30d'));

/** A byte rate such as `10MB/s`, `512KiB/s` or `100Mbit/s`, in bytes per second (a number is bytes per second already). */
const byteRate = z.preprocess((value) => (typeof value === 'string' ? parseByteRate(value) ?? value : value),
  z.number({ error: `must be ${BYTE_RATE_HINT}` }).int().min(MIN_BYTE_RATE, `must be at least ${MIN_BYTE_RATE} bytes per second`).max(MAX_BYTE_RATE));

/** Every edge setting, with its only default. Flags > UDNS_* environment > these defaults. */
export const EdgeConfigSchema = z.object({
  domain: domain.default('localhost'),
  httpPort: port.default(8080),
  dnsPort: port.default(5300),
  publicIp: z.string().refine((v) => isIP(v) === 4, 'must be an IPv4 address').default('127.0.0.1'),
  publicIp6: z.string().refine((v) => isIP(v) === 6, 'must be an IPv6 address').optional(),
  dataDir: z.string().min(1).default('./.udns'),
  databaseUrl: z.string().min(1).optional(),
  tcpPorts: portRange.prefault('20000-20999'),
  bind: z.string().refine((v) => isIP(v) !== 0, 'must be an IP address such as 0.0.0.0 or ::').default('0.0.0.0'),
  /**
   * Public base URL of the HTTP listener as visitors see it (scheme, and port when not 80/443),
   * when a proxy or port mapping sits in front. Default: http://<domain>:<httpPort>.
   */
  publicUrl: z.url().optional(),
  logLevel: z.enum(LOG_LEVELS).default('info'),
  /** How often live tunnels' tokens are checked again, so a revoked token ends its tunnels. */
  tokenRecheckSeconds: z.coerce.number().int().min(1).max(3600).default(30),
  /** How often direct-mode routes are checked again for reachability (`udns http --direct-port`). */
  directRecheckSeconds: z.coerce.number().int().min(1).max(3600).default(DIRECT_RECHECK_INTERVAL_MS / 1000),
  /** TLS listener for the apex, every name and agents (`wss`/`https`); off when unset. */
  httpsPort: port.optional(),
  /** PEM certificate chain (a wildcard for `*.<domain>` and `<domain>`) and its key. */
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
  /** Send plain-HTTP visitors to HTTPS (ACME challenge paths excepted). */
  httpsRedirect: z.stringbool().or(z.boolean()).default(false),
  /** CAA records at the apex, e.g. `0 issue "letsencrypt.org"` (which CAs may issue for the zone). */
  caa: z.preprocess((value) => (typeof value === 'string' ? value.split(';').map((v) => v.trim()).filter(Boolean) : value), z.array(z.string().min(1)).default([])),
  /** Add Strict-Transport-Security to the edge's own HTTPS pages. */
  hsts: z.stringbool().or(z.boolean()).default(false),
  /** Visitor connections one tunnel carries at most; by default what this machine's memory holds (protocol/limits.ts), and never more than the agent takes. */
  maxVisitorsPerTunnel: z.coerce.number().int().min(1).max(MAX_VISITOR_STREAMS_PER_TUNNEL).default(DEFAULT_VISITOR_STREAMS_PER_TUNNEL),
  /** Of those, what one client network (an IPv4 address, an IPv6 /64) may hold; idle keep-alive connections make room. */
  maxVisitorsPerNetwork: z.coerce.number().int().min(1).max(MAX_VISITOR_STREAMS_PER_TUNNEL).default(DEFAULT_VISITOR_STREAMS_PER_NETWORK),
  /** Seconds an HTTP visitor connection may idle between requests before the edge closes it. */
  keepAliveTimeout: z.coerce.number().int().min(1).max(3600).default(DEFAULT_KEEP_ALIVE_IDLE_MS / 1000),
  /** Obtain and renew a `*.<domain>` + `<domain>` certificate through ACME DNS-01, answered by our own DNS. */
  acme: z.stringbool().or(z.boolean()).default(false),
  /** ACME directory URL; Let's Encrypt production by default. */
  acmeDirectory: z.url().default(LETS_ENCRYPT_DIRECTORY),
  /** Contact address given to the ACME account (expiry notices). */
  acmeEmail: z.email().optional(),
  /** PEM file of a CA to trust for the ACME server's own HTTPS (a private ACME server). */
  acmeCa: z.string().min(1).optional(),
  /** DNS resolver (`host:port`) that custom-domain proofs are checked through; the system's when unset. */
  domainResolver: z.string().regex(/^(?:\[[0-9a-fA-F:.]+\]|[0-9.]+)(?::\d{1,5})?$/, 'must be an address such as 192.0.2.53:53 or [2001:db8::53]:53').optional(),
  /** How often verified custom domains' proofs are checked again (and their certificates renewed when due). */
  domainCheckInterval: duration.default(3_600_000),
  /**
   * Who may search the members' index (`GET /api/v1/search`, the apex search page): `public`
   * (anyone), `members` (a token), `off` (nobody, and agents' `--list` is refused).
   */
  search: z.enum(['public', 'members', 'off']).default('members'),
  /** Results of shares whose agent is offline: listed and marked offline (`show`), or left out (`hide`). */
  searchOffline: z.enum(['show', 'hide']).default('show'),
  /** Prometheus `/metrics` on a listener of its own, `host:port` (127.0.0.1:9464), with no token: bind it where only the scraper reaches. */
  metricsListen: z.string().refine((value) => parseListenAddress(value) !== null, 'must be host:port such as 127.0.0.1:9464 or [::1]:9464').optional(),
  /** Label values per account and per name in the byte metrics; later ones count as "other". */
  metricsMaxNames: z.coerce.number().int().min(1).max(10_000).default(DEFAULT_METRICS_MAX_NAMES),
  /** Observe every visitor HTTP request for the latency histogram even without an access log (about 2.5 µs of edge CPU per request). */
  metricsRequests: z.stringbool().or(z.boolean()).default(false),
  /** One line per visitor request (http) or connection (tcp): a file, or `-` for stderr; none when unset. */
  accessLog: z.string().min(1).optional(),
  /** Rotate the access log once it would grow past this many bytes (0: never; logrotate and SIGHUP instead). */
  accessLogMaxBytes: z.coerce.number().int().min(0).max(2 ** 50).default(64 * 1024 * 1024),
  /** Rotated access logs kept (FILE.1 … FILE.<n>). */
  accessLogKeep: z.coerce.number().int().min(0).max(1000).default(5),
  /** Files one listed share may index; a share over it is refused (`index_limit`) and dropped from the index. */
  indexMaxEntriesPerShare: z.coerce.number().int().min(1).max(100_000_000).default(250_000),
  /** Files all listed shares of one account may index together. */
  indexMaxEntriesPerAccount: z.coerce.number().int().min(1).max(1_000_000_000).default(1_000_000),
  /** Index updates (entries and reset buckets per second) one tunnel may send; the edge holds back its acks beyond it. */
  indexRatePerTunnel: z.coerce.number().int().min(10).max(1_000_000).default(5_000),
  /** The same for all tunnels of one account together. */
  indexRatePerAccount: z.coerce.number().int().min(10).max(10_000_000).default(10_000),
  /** How long the escrow waits for a seller's agent to offer a requested sale; then it fails with nothing reserved. */
  offerTimeout: duration.default(DEFAULT_OFFER_TIMEOUT_MS),
  /** How long a reserved sale waits for the buyer's acceptance; then the credits go back to the buyer. */
  saleTimeout: duration.default(DEFAULT_SALE_TIMEOUT_MS),
  /** How long after the key's release a buyer may prove misbehaviour; then the seller's held credits are settled. */
  disputeWindow: duration.default(DEFAULT_DISPUTE_WINDOW_MS),
  /**
   * Networks of proxies or CDNs in front of the edge (`--trusted-proxy`, repeatable): for visitor
   * connections from them, origins get the client from the last `X-Forwarded-For` entry and the
   * scheme from `X-Forwarded-Proto`. Everyone else's forwarding headers are dropped.
   */
  trustedProxy: z.preprocess(
    (value) => (typeof value === 'string' ? value.split(/[\s,]+/).filter(Boolean) : value),
    z.array(z.string().refine((value) => parseProxyNetwork(value) !== null, 'must be networks such as 203.0.113.0/24 or 2001:db8::/32')).default([]),
  ),
  /** Names one account may hold (server/quotas/); unlimited when unset. `udns account limits` overrides it per account. */
  maxNamesPerAccount: z.coerce.number().int().min(1).max(1_000_000).optional(),
  /** Bytes per second over all of one account's routes, both directions together (`10MB/s`); unlimited when unset. */
  accountBandwidth: byteRate.optional(),
  /** Bytes per second for one route (inside its account's); unlimited when unset. */
  routeBandwidth: byteRate.optional(),
  /** Concurrent visitor connections over all of one account's routes (over it: 429, or a closed TCP connection); unlimited when unset. */
  maxVisitorsPerAccount: z.coerce.number().int().min(1).max(10_000_000).optional(),
  /** Concurrent visitor connections of one route; unlimited when unset. */
  maxVisitorsPerRoute: z.coerce.number().int().min(1).max(10_000_000).optional(),
}).strict().superRefine((config, context) => {
  if (config.acme && (config.tlsCert !== undefined || config.tlsKey !== undefined)) {
    context.addIssue({ code: 'custom', path: ['acme'], message: '--acme and --tls-cert/--tls-key exclude each other: choose automatic or file certificates' });
  }
  if (config.acme && config.httpsPort === undefined) {
    context.addIssue({ code: 'custom', path: ['acme'], message: 'needs --https-port' });
  }
  if (!config.acme && (config.acmeEmail !== undefined || config.acmeCa !== undefined)) {
    context.addIssue({ code: 'custom', path: [config.acmeEmail !== undefined ? 'acmeEmail' : 'acmeCa'], message: 'needs --acme' });
  }
  if (config.httpsPort !== undefined && !config.acme && (!config.tlsCert || !config.tlsKey)) {
    context.addIssue({ code: 'custom', path: ['httpsPort'], message: 'needs --tls-cert and --tls-key (PEM files), or --acme' });
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    context.addIssue({ code: 'custom', path: ['tlsCert'], message: '--tls-cert and --tls-key go together' });
  }
  if (config.maxVisitorsPerNetwork > config.maxVisitorsPerTunnel) {
    context.addIssue({ code: 'custom', path: ['maxVisitorsPerNetwork'], message: 'cannot exceed --max-visitors-per-tunnel' });
  }
  if (config.indexMaxEntriesPerShare > config.indexMaxEntriesPerAccount) {
    context.addIssue({ code: 'custom', path: ['indexMaxEntriesPerShare'], message: 'cannot exceed --index-max-entries-per-account' });
  }
  if (config.indexRatePerTunnel > config.indexRatePerAccount) {
    context.addIssue({ code: 'custom', path: ['indexRatePerTunnel'], message: 'cannot exceed --index-rate-per-account' });
  }
  if (config.httpsRedirect && config.httpsPort === undefined) {
    context.addIssue({ code: 'custom', path: ['httpsRedirect'], message: 'needs --https-port' });
  }
});

export type EdgeConfigInput = z.input<typeof EdgeConfigSchema>;
export type EdgeConfig = Readonly<z.output<typeof EdgeConfigSchema>>;

/** Each `UDNS_*` variable the edge reads and the config key it sets (`udns server --help` lists them). */
export const ENV_KEYS: Readonly<Record<string, keyof EdgeConfigInput>> = {
  UDNS_DOMAIN: 'domain',
  UDNS_HTTP_PORT: 'httpPort',
  UDNS_DNS_PORT: 'dnsPort',
  UDNS_PUBLIC_IP: 'publicIp',
  UDNS_PUBLIC_IP6: 'publicIp6',
  UDNS_DATA_DIR: 'dataDir',
  UDNS_DATABASE_URL: 'databaseUrl',
  UDNS_TCP_PORTS: 'tcpPorts',
  UDNS_BIND: 'bind',
  UDNS_PUBLIC_URL: 'publicUrl',
  UDNS_LOG_LEVEL: 'logLevel',
  UDNS_TOKEN_RECHECK_SECONDS: 'tokenRecheckSeconds',
  UDNS_HTTPS_PORT: 'httpsPort',
  UDNS_TLS_CERT: 'tlsCert',
  UDNS_TLS_KEY: 'tlsKey',
  UDNS_HTTPS_REDIRECT: 'httpsRedirect',
  UDNS_HSTS: 'hsts',
  UDNS_CAA: 'caa',
  UDNS_MAX_VISITORS_PER_TUNNEL: 'maxVisitorsPerTunnel',
  UDNS_MAX_VISITORS_PER_NETWORK: 'maxVisitorsPerNetwork',
  UDNS_KEEP_ALIVE_TIMEOUT: 'keepAliveTimeout',
  UDNS_ACME: 'acme',
  UDNS_ACME_DIRECTORY: 'acmeDirectory',
  UDNS_ACME_EMAIL: 'acmeEmail',
  UDNS_ACME_CA: 'acmeCa',
  UDNS_DOMAIN_RESOLVER: 'domainResolver',
  UDNS_DOMAIN_CHECK_INTERVAL: 'domainCheckInterval',
  UDNS_TRUSTED_PROXIES: 'trustedProxy',
  UDNS_SEARCH: 'search',
  UDNS_SEARCH_OFFLINE: 'searchOffline',
  UDNS_INDEX_MAX_ENTRIES_PER_SHARE: 'indexMaxEntriesPerShare',
  UDNS_INDEX_MAX_ENTRIES_PER_ACCOUNT: 'indexMaxEntriesPerAccount',
  UDNS_INDEX_RATE_PER_TUNNEL: 'indexRatePerTunnel',
  UDNS_INDEX_RATE_PER_ACCOUNT: 'indexRatePerAccount',
  UDNS_OFFER_TIMEOUT: 'offerTimeout',
  UDNS_SALE_TIMEOUT: 'saleTimeout',
  UDNS_DISPUTE_WINDOW: 'disputeWindow',
  UDNS_METRICS_LISTEN: 'metricsListen',
  UDNS_METRICS_MAX_NAMES: 'metricsMaxNames',
  UDNS_METRICS_REQUESTS: 'metricsRequests',
  UDNS_ACCESS_LOG: 'accessLog',
  UDNS_ACCESS_LOG_MAX_BYTES: 'accessLogMaxBytes',
  UDNS_ACCESS_LOG_KEEP: 'accessLogKeep',
  UDNS_MAX_NAMES_PER_ACCOUNT: 'maxNamesPerAccount',
  UDNS_ACCOUNT_BANDWIDTH: 'accountBandwidth',
  UDNS_ROUTE_BANDWIDTH: 'routeBandwidth',
  UDNS_MAX_VISITORS_PER_ACCOUNT: 'maxVisitorsPerAccount',
  UDNS_MAX_VISITORS_PER_ROUTE: 'maxVisitorsPerRoute',
};

/** The schema's keys: what flags, `UDNS_*` variables and the config file may set. */
export const EDGE_CONFIG_KEYS: readonly string[] = Object.freeze(Object.keys(EdgeConfigSchema.shape));

/**
 * Builds the edge config from flags (already parsed, undefined when absent) over environment
 * variables over the config file (`--config`) over defaults. Reports every problem at once,
 * each named the way it was given: `--http-port`, `UDNS_HTTP_PORT` or `edge.yml: httpPort`.
 *
 * Flags over environment over file, as Viper, Docker's and most twelve-factor tools order them:
 * the file is the lasting setting, the environment the deployment's override, the flag the
 * operator's override for this one run.
 * @throws UdnsError `config_invalid`
 */
export function loadEdgeConfig(flags: Partial<Record<keyof EdgeConfigInput, unknown>>, env: NodeJS.ProcessEnv = {}, file?: EdgeConfigFileLayer): EdgeConfig {
  const merged: Record<string, unknown> = {};
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(file?.values ?? {})) {
    merged[key] = value;
    labels[key] = `${file!.file}: ${key}`;
  }
  for (const [envKey, key] of Object.entries(ENV_KEYS)) {
    const value = env[envKey];
    if (value !== undefined && value !== '') {
      merged[key] = value;
      labels[key] = envKey;
    }
  }
  for (const [key, value] of Object.entries(flags)) {
    if (value !== undefined) {
      merged[key] = value;
      delete labels[key];
    }
  }
  return parseEdgeConfig(merged, { labels, problems: file?.problems ?? [] });
}

/**
 * Validates an already merged config object (tests call this directly).
 * @param context.labels how to name a key that did not come from a flag
 * @param context.problems problems found before (unknown keys in the file), reported with these
 */
export function parseEdgeConfig(input: EdgeConfigInput | Record<string, unknown>, context: { labels?: Record<string, string>; problems?: string[] } = {}): EdgeConfig {
  const result = EdgeConfigSchema.safeParse(input);
  const problems = [...(context.problems ?? [])];
  if (!result.success) {
    for (const issue of result.error.issues) {
      const key = String(issue.path[0] ?? '');
      problems.push(`${context.labels?.[key] ?? `--${toFlag(key)}`}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !result.success) {
    throw new UdnsError('config_invalid', `invalid server options: ${problems.join('; ')}`);
  }
  return Object.freeze(result.data);
}

function toFlag(key: string): string {
  return key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}
