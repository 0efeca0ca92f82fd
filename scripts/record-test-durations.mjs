// Writes test/file-durations.json from vitest's cache of the last full local run, so that a
// clean clone (CI has no cache) also starts the slowest files first: with 2 workers, a long file
// started last leaves one worker idle for its whole length. Run after a full `npm test`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cacheDir = path.join(root, 'node_modules', '.vite', 'vitest');
const caches = fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir).map((dir) => path.join(cacheDir, dir, 'results.json')).filter((file) => fs.existsSync(file)) : [];
if (caches.length === 0) {
  process.stderr.write('no vitest results cache: run `npm test` first\n');
  process.exit(1);
}
const durations = {};
for (const file of caches) {
  for (const [key, result] of JSON.parse(fs.readFileSync(file, 'utf8')).results) {
    const testFile = key.replace(/^[^:]*:/, '');
    if (!fs.existsSync(path.join(root, testFile)) || !(result.duration > 0)) continue;
    durations[testFile] = Math.round(result.duration / 100) / 10;
  }
}
const sorted = Object.fromEntries(Object.entries(durations).sort(([a], [b]) => a.localeCompare(b)));
fs.writeFileSync(path.join(root, 'test', 'file-durations.json'), `${JSON.stringify(sorted, null, 2)}\n`);
process.stdout.write(`${Object.keys(sorted).length} files recorded in test/file-durations.json\n`);
