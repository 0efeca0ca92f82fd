import { EDGE_CONFIG_KEYS, loadEdgeConfig, type EdgeConfig } from '../server/config.js';
import { readEdgeConfigFile } from '../server/config-file.js';
import type { EdgeHandle } from '../server/edge.js';
import type { Logger } from '../server/logger.js';

/** How `udns server` was asked to find its settings: flags, `UDNS_*` and maybe a file. */
export interface EdgeSettingsSource {
  /** `--config`, when given. */
  readonly file: string | undefined;
  /** `--check`: validate and exit. */
  readonly check: boolean;
  /** Reads the file (when given) and the environment again and merges them under the flags. */
  load(): EdgeConfig;
}

/**
 * Splits `udns server`'s own options (`--config`, `--check`, `--log-format`) from the edge's
 * settings. Loading again (on `SIGHUP`) reads the file and `process.env` anew; the flags stay
 * those of the start.
 */
export function readEdgeSettings(options: Record<string, unknown>): EdgeSettingsSource {
  const { config: file, check, ...flags } = options;
  if (file !== undefined && typeof file !== 'string') throw new TypeError('--config takes a file');
  return {
    file,
    check: check === true,
    load: () => loadEdgeConfig(flags, process.env, file === undefined ? undefined : readEdgeConfigFile(file, EDGE_CONFIG_KEYS)),
  };
}

/**
 * On `SIGHUP`, loads the settings again and applies what can change live. An invalid file is
 * one error line and the edge keeps its running config; changed keys that only a restart
 * applies are named in one warning.
 */
export function reloadOnSighup(edge: EdgeHandle, logger: Logger, settings: EdgeSettingsSource): void {
  process.on('SIGHUP', () => {
    let outcome;
    try {
      outcome = edge.applyConfig(settings.load());
    } catch (error) {
      logger.error(`config not reloaded, still running the previous one: ${(error as Error).message}`);
      return;
    }
    logger.info({ applied: outcome.applied }, `config reloaded${outcome.applied.length > 0 ? `: ${outcome.applied.join(', ')}` : ' (no live change)'}`);
    if (outcome.needsRestart.length > 0) {
      logger.warn({ needsRestart: outcome.needsRestart }, `changed but only applied after a restart: ${outcome.needsRestart.join(', ')}`);
    }
  });
}
