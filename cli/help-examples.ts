import type { Command } from 'commander';
import { ENV_KEYS } from '../server/config.js';

/**
 * Examples shown at the end of each command's `--help`, by command path. Kept in one table, not
 * in each command's file, so the test can check that every command has some and a new command
 * without examples fails it.
 */
export const HELP_EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  server: [
    'udns server                                   # zone localhost, HTTP 8080, DNS 5300, data in ./.udns',
    'udns server --domain tun.example.com --public-ip 203.0.113.7 --http-port 80 --dns-port 53',
    'UDNS_HTTP_PORT=9000 udns server --log-level debug',
  ],
  login: [
    'udns login --server http://localhost:8080     # asks for the token',
    'udns login - --server https://tun.example.com < token.txt',
  ],
  http: [
    'udns http 3000 --name alice                   # http://alice.<zone> -> http://127.0.0.1:3000',
    'udns http 5173 --qr                           # a random name, and a QR code of its URL',
    'udns http 8080 --name nas --private --allow-member bob   # no public URL: bob runs udns connect nas',
  ],
  tcp: [
    'udns tcp 22                                   # ssh -p <public port> <zone>',
    'udns tcp 5432 --local-host 10.0.0.5',
  ],
  share: [
    'udns share ./slides --name slides --qr',
    'udns share ~/Public --password hunter2 --expires 2h --allow-upload --webdav',
    'udns share ~/Documents --name docs --list     # members find its files with udns search',
  ],
  up: ['udns up --config udns.yml'],
  connect: [
    'udns connect nas --port 8000                  # alice\'s private route nas at http://127.0.0.1:8000',
    'udns connect db                               # a free local port, printed',
  ],
  status: ['udns status', 'udns status --json | jq .names'],
  console: ['udns console                                  # a sign-in link for the browser, good once for 5 minutes', 'udns console --json | jq -r .url'],
  ddns: ['udns ddns home                                # keeps home.<zone> on this machine\'s address', 'udns ddns home --once --ipv4'],
  get: ['udns get http://slides.localhost:8080/talk.pdf', 'udns get -r http://photos.localhost:8080/2026/ -o ./photos', 'udns get http://alice-talks.localhost:8080/keynote.pdf --pay-up-to 50   # a file for sale: buys it through the escrow'],
  'receipt verify': ['udns receipt verify keynote.pdf.receipt.json     # offline: three signatures, and the file beside it', 'udns receipt verify keynote.pdf.receipt.json --edge-key "$(curl -s -H "Authorization: Bearer $TOKEN" http://localhost:8080/api/v1/ledger/key | jq -r .publicKey)"'],
  rate: ['udns rate keynote.pdf 5 clear slides, fast seller     # a file udns get bought (its .receipt.json names the sale)', 'udns rate 0f3c9a1e5b7d4c2a8e6f1b3d5a7c9e0b 2 --json     # or the sale id'],
  search: ['udns search 보고서     # every listed file with 보고서 in its name or folder', 'udns search holiday --type video --min-size 100M --owner alice', 'udns search invoice 2024 --json | jq -r \'.hits[0].url\' | xargs udns get'],
  transfers: ['udns transfers                  # files fetched from your shares, and by you', 'udns transfers --sent --limit 20', 'udns transfers --received --json | jq \'.transfers[] | {path, bytes, outcome}\''],
  credits: ['udns credits                          # available, held, and the last 20 movements', 'udns credits --limit 100 --json | jq \'.history[] | {kind, amount, memo}\''],
  'credits send': ['udns credits send bob 25 --memo "for the slides"', 'udns credits send bob 25 --key rent-2026-12   # the same key again never pays twice'],
  'ledger verify': ['udns ledger verify                    # head signed by the pinned key, consistent with the last check, your entries in it', 'udns ledger verify --json | jq \'.kinds\''],
  'ledger audit': ['udns ledger audit --data-dir /var/lib/udns   # beside the edge: the whole ledger and every balance', 'udns ledger audit --database-url postgres://udns@db/udns --json | jq \'.problems[0]\''],
  'name claim': ['udns name claim alice'],
  'name release': ['udns name release alice'],
  'name ls': ['udns name ls', 'udns name ls --json'],
  'domain add': ['udns domain add shop.example.com --name alice   # prints the TXT and CNAME records to publish', 'udns domain add bücher.example --name alice --json | jq -r .txtValue'],
  'domain verify': ['udns domain verify shop.example.com            # once the records are published: routed, and HTTPS follows'],
  'domain list': ['udns domain list', 'udns domain list --json | jq \'.domains[] | {domain, status, certificateValidTo}\''],
  'domain remove': ['udns domain remove shop.example.com'],
  'dns add': ['udns dns add alice TXT "v=spf1 -all"', 'udns dns add mail.alice A 203.0.113.9 --ttl 300'],
  'dns set': ['udns dns set alice AAAA 2001:db8::1 2001:db8::2'],
  'dns rm': ['udns dns rm alice TXT', 'udns dns rm mail.alice'],
  'dns ls': ['udns dns ls', 'udns dns ls alice --json'],
  'account create': ['udns account create bob', 'udns account create bob --token-file bob.token'],
  'account token': ['udns account token bob --token-file bob-laptop.token'],
  'account revoke-token': ['udns account revoke-token bob 3          # the id from `udns account tokens bob`'],
  'account list': ['udns account list', 'udns account list --json'],
  'account grant': ['udns account grant bob 1000 --memo "welcome"', 'udns account grant bob 1000 --key bob-welcome   # run twice: granted once'],
  'account tokens': ['udns account tokens bob', 'udns account tokens bob --json'],
  'account limits': ['udns account limits bob', 'udns account limits bob --names 5 --bandwidth 10MB/s --visitors 100', 'udns account limits bob --bandwidth default   # back to the edge\'s --account-bandwidth'],
  'service install': ['sudo udns service install server -- --domain example.com --dns-port 53 --http-port 80', 'udns service install --user up --config ~/agent.yml'],
  'service status': ['udns service status', 'udns service status --user'],
  'service uninstall': ['udns service uninstall --user agent.yml', 'sudo udns service uninstall server'],
  completion: ['udns completion bash > ~/.local/share/bash-completion/completions/udns', 'udns completion zsh > "${fpath[1]}/_udns"', 'udns completion fish > ~/.config/fish/completions/udns.fish'],
};

/** The command's path below the program: `name ls`, `server`. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at?.parent; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

/** Every command below `program` with no subcommands of its own (the ones that run something). */
export function leafCommands(program: Command): Command[] {
  return program.commands.flatMap((command) => (command.commands.length > 0 ? leafCommands(command) : [command]));
}

/** The `UDNS_*` variables of `udns server`, each with the flag it stands in for. */
export function serverEnvironmentHelp(): string {
  const rows = Object.entries(ENV_KEYS).map(([variable, key]) => [variable, `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`] as const);
  const width = Math.max(...rows.map(([variable]) => variable.length));
  return ['Environment (a flag wins over its variable):', ...rows.map(([variable, flag]) => `  ${variable.padEnd(width)}  ${flag}`)].join('\n');
}

/** Adds the examples (and, to `server`, the environment variables) after each command's help. */
export function addHelpExamples(program: Command): void {
  // Leaves, and a group that runs something itself (`udns credits`) when it has examples.
  const everyCommand = (parent: Command): Command[] => parent.commands.flatMap((command) => [command, ...everyCommand(command)]);
  for (const command of everyCommand(program)) {
    const examples = HELP_EXAMPLES[commandPath(command)];
    const sections: string[] = [];
    if (examples) sections.push(['Examples:', ...examples.map((line) => `  $ ${line}`)].join('\n'));
    if (commandPath(command) === 'server') sections.push(serverEnvironmentHelp());
    if (sections.length > 0) command.addHelpText('after', `\n${sections.join('\n\n')}`);
  }
}
