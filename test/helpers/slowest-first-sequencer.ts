import fs from 'node:fs';
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Seconds assumed for a test file with no recorded duration (a new file): mid-pack. */
const UNKNOWN_FILE_SECONDS = 10;

/**
 * Starts the slowest files first. Vitest does this from its own cache, which a clean clone (CI)
 * does not have: it then orders by file size, and a slow but short file started last keeps one
 * of the two workers busy alone at the end. The durations come from this machine's cache when
 * present, else from test/file-durations.json (scripts/record-test-durations.mjs).
 */
export default class SlowestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const recorded = readRecorded(this.ctx.config.root);
    const seconds = (spec: TestSpecification): number => {
      const relative = path.relative(this.ctx.config.root, spec.moduleId);
      const cached = this.ctx.cache.getFileTestResults(`${spec.project.name}:${relative}`);
      if (cached !== undefined && cached.duration > 0) return cached.duration / 1000;
      return recorded[relative] ?? UNKNOWN_FILE_SECONDS;
    };
    return [...files].sort((a, b) => seconds(b) - seconds(a));
  }
}

function readRecorded(root: string): Record<string, number> {
  try {
    return JSON.parse(fs.readFileSync(path.join(root, 'test', 'file-durations.json'), 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
}
