import path from 'node:path';
import type { Command } from 'commander';
import { UdnsError } from '../../protocol/errors.js';
import { say } from '../cli-output.js';
import { resolveCredentials, type CredentialFlags } from '../client-config.js';
import { printJson, withJsonFlag } from '../json-output.js';
import { readAuditMemory, writeAuditMemory } from '../ledger/audit-memory.js';
import { verifyLedger } from '../ledger/ledger-verify.js';
import { withApiFlags } from '../parse-args.js';

interface AuditFlags {
  dataDir?: string;
  databaseUrl?: string;
  memory?: string;
  json?: boolean;
}

/** `udns ledger verify` (a member) and `udns ledger audit` (the operator, beside the edge). */
export function registerLedgerCommands(program: Command): void {
  const ledger = program.command('ledger').description('check the edge\'s tamper-evident ledger of credits, transfers, sales and ratings');

  withJsonFlag(withApiFlags(ledger.command('verify')
    .description('check the signed tree head against the pinned edge key, its consistency with the last one seen here, and that every entry concerning you is in it')))
    .action(async (flags: CredentialFlags & { json?: boolean }) => {
      const result = await verifyLedger(resolveCredentials(flags));
      if (flags.json) {
        printJson({ ok: true, ...result });
        return;
      }
      const { head } = result;
      if (result.pinned) say(`pinned the edge's ledger key ${result.keyId} (trust on first use; kept in ${result.stateFile})`);
      const kinds = Object.entries(result.kinds).map(([kind, count]) => `${count} ${kind}`).join(', ');
      const since = result.previous === null ? 'first check here' : `extends the head of ${result.previous.treeSize} entries seen ${new Date(result.previous.timestamp).toISOString()}`;
      say(`ledger verified: ${head.treeSize} entries, signed ${new Date(head.timestamp).toISOString()} by ${result.keyId} (${since}); ${result.entries} of yours included${kinds === '' ? '' : ` (${kinds})`}`);
    });

  withJsonFlag(ledger.command('audit')
    .description('beside the edge: recompute the ledger, its signed heads and every balance from the database, and name the first bad entry')
    .option('--data-dir <dir>', 'the edge\'s data directory (default ./.udns)')
    .option('--database-url <url>', 'the edge\'s database URL (file: or postgres://)')
    .option('--memory <file>', 'where the audit remembers the signed heads it saw, to notice a deleted one (default <data-dir>/ledger-audit.json)'))
    .action(async (flags: AuditFlags) => {
      // Loaded here: Prisma would slow every other command's start-up.
      const { loadEdgeConfig } = await import('../../server/config.js');
      const { openAccountStore, storeDatabase } = await import('../../server/accounts/account-store.js');
      const { auditLedger, formatProblem } = await import('../../server/ledger/ledger-audit.js');
      const config = loadEdgeConfig({ dataDir: flags.dataDir, databaseUrl: flags.databaseUrl }, process.env);
      const memoryFile = flags.memory ?? path.join(config.dataDir, 'ledger-audit.json');
      const previous = readAuditMemory(memoryFile);
      const store = await openAccountStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl });
      let outcome: Awaited<ReturnType<typeof auditLedger>>;
      try {
        outcome = await auditLedger(storeDatabase(store), { previous });
      } finally {
        await store.close();
      }
      const { report, memory } = outcome;
      // Only a clean audit moves the memory on: a deleted head stays reported until it is explained.
      if (report.ok) writeAuditMemory(memoryFile, memory);
      if (flags.json) {
        printJson(report);
        if (!report.ok) process.exitCode = 1;
        return;
      }
      if (!report.ok) {
        const more = report.problems.length > 1 ? ` (and ${report.problems.length - 1} more: --json lists them)` : '';
        throw new UdnsError('hash_mismatch', `ledger audit FAILED: ${formatProblem(report.problems[0]!)}${more}`);
      }
      const head = report.newestHead === null ? 'no signed head yet' : `newest signed head ${report.newestHead.treeSize} entries, root ${report.newestHead.rootHash.slice(0, 16)}…`;
      say(`ledger audited: ${report.entries} entries chained, ${report.heads} signed heads match (${head}); ${report.movements} movements add up in ${report.wallets} wallets summing to ${report.walletSum}; ${report.sales} sales agree with escrow and held credits`);
    });
}
