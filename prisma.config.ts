// Prisma CLI config: runs the schema engine as WebAssembly through the better-sqlite3 driver
// adapter, so `prisma migrate deploy|diff` work offline (see docs/decisions.md).
import path from 'node:path';
import { defineConfig } from 'prisma/config';
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';

const databaseFile = process.env.UDNS_PRISMA_SQLITE_FILE ?? path.join('.udns', 'udns.db');

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  async adapter() {
    return new PrismaBetterSQLite3({ url: `file:${databaseFile}` });
  },
});
