import type { EdgeConfig } from './config.js';

/**
 * Settings a running edge applies on `SIGHUP` without a restart. TLS file names are here and
 * the files are read again on every reload, since a renewed certificate usually keeps its path.
 * Everything else (ports, domain, database, bind, …) is fixed by what the edge bound or opened
 * at start.
 */
export const LIVE_KEYS: ReadonlySet<keyof EdgeConfig> = new Set<keyof EdgeConfig>([
  'logLevel',
  'tlsCert',
  'tlsKey',
  'caa',
  'hsts',
  'maxVisitorsPerTunnel',
  'maxVisitorsPerNetwork',
  'keepAliveTimeout',
  // The index sync and the search API read these on every decision (server/search/index-sync.ts).
  'search',
  'searchOffline',
  'indexMaxEntriesPerShare',
  'indexMaxEntriesPerAccount',
  'indexRatePerTunnel',
  'indexRatePerAccount',
  // The escrow reads these at every sale step (server/exchange/escrow.ts); a change applies to
  // deadlines set from then on, not to those already running.
  'offerTimeout',
  'saleTimeout',
  'disputeWindow',
  // The quotas read these on every decision (server/quotas/visitor-quotas.ts).
  'maxNamesPerAccount',
  'accountBandwidth',
  'routeBandwidth',
  'maxVisitorsPerAccount',
  'maxVisitorsPerRoute',
]);

/** What a reload changed: applied live, or named because only a restart applies it. */
export interface ReloadOutcome {
  /** Live keys whose value changed (TLS files are read again even when unchanged). */
  applied: string[];
  /** Changed keys that the running edge keeps at their old value until a restart. */
  needsRestart: string[];
}

/** The keys whose values differ between two configs, split into live and restart-only. */
export function diffConfigs(current: EdgeConfig, next: EdgeConfig): ReloadOutcome {
  const keys = new Set([...Object.keys(current), ...Object.keys(next)]) as Set<keyof EdgeConfig>;
  const outcome: ReloadOutcome = { applied: [], needsRestart: [] };
  for (const key of keys) {
    if (JSON.stringify(current[key]) === JSON.stringify(next[key])) continue;
    (LIVE_KEYS.has(key) ? outcome.applied : outcome.needsRestart).push(key);
  }
  return outcome;
}

/**
 * The config the edge runs with after a reload: the new values of live keys, the old values of
 * everything else (so `EdgeHandle.config` keeps telling the truth about ports and paths).
 */
export function effectiveConfig(current: EdgeConfig, next: EdgeConfig): EdgeConfig {
  const merged: Record<string, unknown> = { ...current };
  for (const key of LIVE_KEYS) merged[key] = next[key];
  return Object.freeze(merged) as EdgeConfig;
}
