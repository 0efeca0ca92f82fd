import { Command, CommanderError } from 'commander';
import { registerAccountCommands } from './commands/account-command.js';
import { registerDdnsCommand } from './commands/ddns-command.js';
import { registerDnsCommands } from './commands/dns-command.js';
import { registerExposeCommands } from './commands/expose-command.js';
import { registerGetCommand } from './commands/get-command.js';
import { registerLoginCommand } from './commands/login-command.js';
import { registerNameCommands } from './commands/name-command.js';
import { registerUpCommand } from './commands/up-command.js';
import { registerShareCommand } from './commands/share-command.js';
import { registerRateCommand } from './commands/rate-command.js';
import { registerReceiptCommand } from './commands/receipt-command.js';
import { registerSearchCommand } from './commands/search-command.js';
import { registerServerCommand } from './commands/server-command.js';
import { registerServiceCommands } from './commands/service-command.js';
import { registerStatusCommand } from './commands/status-command.js';
import { registerTransfersCommand } from './commands/transfers-command.js';
import { registerLedgerCommands } from './commands/ledger-command.js';
import { registerCreditsCommand } from './commands/credits-command.js';
import { registerCompletionCommand } from './commands/completion-command.js';
import { registerConnectCommand } from './commands/connect-command.js';
import { registerDomainCommands } from './commands/domain-command.js';
import { registerConsoleCommand } from './commands/console-command.js';
import { addHelpExamples } from './help-examples.js';
import { UDNS_VERSION } from './package-version.js';
import { failAndExit, surviveClosedOutput, warn } from './cli-output.js';
import { commanderErrorLine } from './commander-errors.js';

surviveClosedOutput();

const program = new Command('udns')
  .description('make a PC behind NAT reachable by name: tunnels, dynamic DNS, shares')
  .version(UDNS_VERSION)
  // commander's own error lines are replaced by one of ours (commanderErrorLine) below.
  .configureOutput({ outputError: () => {} })
  .exitOverride();

registerServerCommand(program);
registerServiceCommands(program);
registerLoginCommand(program);
registerExposeCommands(program);
registerShareCommand(program);
registerUpCommand(program);
registerStatusCommand(program);
registerAccountCommands(program);
registerDdnsCommand(program);
registerNameCommands(program);
registerDnsCommands(program);
registerGetCommand(program);
registerReceiptCommand(program);
registerSearchCommand(program);
registerRateCommand(program);
registerTransfersCommand(program);
registerLedgerCommands(program);
registerCreditsCommand(program);
registerConsoleCommand(program);
registerDomainCommands(program);
registerConnectCommand(program);
registerCompletionCommand(program);
addHelpExamples(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version exit 0; help shown for a command group without its subcommand, 2.
    if (error.exitCode === 0) process.exit(0);
    if (error.code !== 'commander.help' && error.code !== 'commander.helpDisplayed') warn(commanderErrorLine(error, program, process.argv.slice(2)));
    process.exit(2);
  }
  failAndExit(error);
}
