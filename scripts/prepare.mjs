// Runs on `npm install` (and `npm run build`): generates the Prisma client without any
// download, then compiles TypeScript to dist/. Fails loudly: a half-built install is worse.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const env = {
  ...process.env,
  // Prisma's CLI otherwise tries to download native engines this mode never uses.
  PRISMA_QUERY_ENGINE_LIBRARY: '/bin/false',
  PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false',
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
  CHECKPOINT_DISABLE: '1',
};
const bin = (name) => path.join(root, 'node_modules', '.bin', name);

function run(command, args) {
  execFileSync(command, args, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
}

run(bin('prisma'), ['generate', '--schema', 'prisma/schema.prisma']);
run(process.execPath, ['scripts/postgres-schema.mjs']);
run(bin('prisma'), ['generate', '--schema', 'prisma/postgres/schema.prisma']);
run(bin('tsc'), ['-p', 'tsconfig.build.json']);
