// Derives prisma/postgres/schema.prisma from the SQLite schema (same models, other provider
// and client output), so there is one place to edit the data model.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const source = fs.readFileSync(path.join(root, 'prisma/schema.prisma'), 'utf8');
const derived = source
  .replace('provider = "sqlite"', 'provider = "postgresql"')
  .replace('url      = "file:./dev.db"', 'url      = "postgresql://localhost/udns"')
  .replace('output          = "../server/accounts/generated"', 'output          = "../../server/accounts/generated-postgres"');
if (derived === source) throw new Error('postgres-schema: the SQLite schema no longer matches the expected lines');
const header = '// GENERATED from prisma/schema.prisma by scripts/postgres-schema.mjs: edit that file instead.\n';
fs.mkdirSync(path.join(root, 'prisma/postgres'), { recursive: true });
const target = path.join(root, 'prisma/postgres/schema.prisma');
const tmp = `${target}.tmp`;
fs.writeFileSync(tmp, header + derived);
fs.renameSync(tmp, target);
