import type { Command } from 'commander';
import { UdnsError, normaliseDomain, type DomainView } from '../../protocol/index.js';
import { say } from '../cli-output.js';
import { resolveCredentials } from '../client-config.js';
import { callEdge } from '../edge-api.js';
import { printJson, withJsonFlag } from '../json-output.js';
import { withApiFlags, type ApiFlags } from '../parse-args.js';

type Flags = ApiFlags & { json?: boolean };

/** Checks the domain here too, so a typo is one line without a round trip. @throws UdnsError name_invalid */
function domainArgument(input: string): string {
  const result = normaliseDomain(input);
  if ('problem' in result) throw new UdnsError('name_invalid', `"${input}" ${result.problem}`);
  return result.domain;
}

const domainPath = (domain: string): string => `/api/v1/domains/${encodeURIComponent(domain)}`;

/** The two records a member publishes, as lines. */
function recordLines(view: DomainView): string[] {
  const width = Math.max(view.txtName.length, view.domain.length);
  return [
    `  ${view.txtName.padEnd(width)}  TXT    "${view.txtValue}"`,
    `  ${view.domain.padEnd(width)}  CNAME  ${view.cnameTarget}`,
  ];
}

function statusLine(view: DomainView): string {
  const certificate = view.certificateValidTo === null ? '' : `, certificate until ${view.certificateValidTo.slice(0, 10)}`;
  const problem = view.status !== 'verified' && view.lastError !== null ? `: ${view.lastError}` : '';
  return `${view.domain} -> ${view.name} (${view.status}${certificate})${problem}`;
}

/** `udns domain add|list|verify|remove`: a domain of your own, routed to one of your names. */
export function registerDomainCommands(program: Command): void {
  const domain = program.command('domain').description('your own domains (shop.example.com) routed to your names: add, verify, list, remove');

  withJsonFlag(withApiFlags(domain.command('add')
    .description('claim a domain of yours for one of your names; prints the DNS records that prove it is yours')
    .argument('<domain>', 'e.g. shop.example.com (internationalised names are fine)')
    .requiredOption('--name <name>', 'your name it routes to, e.g. alice')))
    .action(async (input: string, flags: Flags & { name: string }) => {
      const wanted = domainArgument(input);
      const edge = resolveCredentials(flags);
      const { domain: view } = await callEdge<{ created: boolean; domain: DomainView }>(edge, 'POST', '/api/v1/domains', { domain: wanted, name: flags.name });
      if (flags.json) return printJson(view);
      say(`${view.domain} -> ${view.name}: ${view.status}`);
      if (view.status === 'verified') return;
      say(`Publish these records at ${view.domain}'s DNS provider:`);
      for (const line of recordLines(view)) say(line);
      say(`then run: udns domain verify ${view.domain}`);
    });

  withJsonFlag(withApiFlags(domain.command('verify')
    .description('check the proof now; once it holds, the edge routes the domain and obtains its certificate')
    .argument('<domain>')))
    .action(async (input: string, flags: Flags) => {
      const edge = resolveCredentials(flags);
      const { domain: view } = await callEdge<{ domain: DomainView }>(edge, 'POST', `${domainPath(domainArgument(input))}/verify`);
      if (flags.json) return printJson(view);
      say(`verified: ${view.domain} -> ${view.name}`);
    });

  withJsonFlag(withApiFlags(domain.command('list')
    .alias('ls')
    .description('your custom domains, their state, and the records each needs')))
    .action(async (flags: Flags) => {
      const edge = resolveCredentials(flags);
      const { domains } = await callEdge<{ domains: DomainView[] }>(edge, 'GET', '/api/v1/domains');
      if (flags.json) return printJson({ domains });
      if (domains.length === 0) say('(no custom domains: add one with `udns domain add <domain> --name <name>`)');
      for (const view of domains) {
        say(statusLine(view));
        if (view.status !== 'verified') for (const line of recordLines(view)) say(line);
      }
    });

  withJsonFlag(withApiFlags(domain.command('remove')
    .alias('rm')
    .description('stop routing a domain and drop its claim and certificate')
    .argument('<domain>')))
    .action(async (input: string, flags: Flags) => {
      const edge = resolveCredentials(flags);
      const result = await callEdge<{ removed: string }>(edge, 'DELETE', domainPath(domainArgument(input)));
      if (flags.json) return printJson(result);
      say(`removed ${result.removed}`);
    });
}
