#!/usr/bin/env node
// Entry point of the `udns` command: runs the compiled CLI from dist/ (built by `npm install`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/index.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('udns: not built yet: run `npm install` (or `npm run build`) in the udns folder\n');
  process.exit(1);
}
await import(entry.href);
