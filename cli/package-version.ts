import { readFileSync } from 'node:fs';

/**
 * The version in udns's package.json, read at start-up (from `cli/` and `dist/cli/` alike: both
 * sit one folder below a folder holding package.json), so `udns --version` never drifts from it.
 */
export const UDNS_VERSION: string = (() => {
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const found = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (found.name === 'udns' && typeof found.version === 'string') return found.version;
    } catch {
      // Not at this level: dist/cli/ is one folder deeper than cli/.
    }
  }
  return 'unknown';
})();
