import type { Command } from 'commander';
import { say } from '../cli-output.js';
import { resolveCredentials } from '../client-config.js';
import { callEdge, namePath, type NameView, type RecordView } from '../edge-api.js';
import { parseRecordType, parseTtl, withApiFlags, type ApiFlags } from '../parse-args.js';
import { printJson, withJsonFlag } from '../json-output.js';

/** Records as zone-file lines (`www.alice.example.net.  60  IN  A  203.0.113.7`), columns aligned. */
export function recordLines(records: RecordView[], indent = ''): string[] {
  const nameWidth = Math.max(0, ...records.map((record) => record.fqdn.length + 1));
  const ttlWidth = Math.max(0, ...records.map((record) => String(record.ttl).length));
  return records.map((record) => {
    const value = record.type === 'TXT' ? `"${record.value.replace(/["\\]/g, '\\$&')}"` : record.type === 'CNAME' ? `${record.value}.` : record.value;
    return `${indent}${`${record.fqdn}.`.padEnd(nameWidth)}  ${String(record.ttl).padStart(ttlWidth)}  IN  ${record.type.padEnd(5)}  ${value}`;
  });
}

/** `udns dns …`: the DNS records under the account's names, through the edge's API. */
export function registerDnsCommands(program: Command): void {
  const dns = program.command('dns').description('DNS records under your names (A, AAAA, TXT, CNAME)');
  const nameHelp = 'a name or sub-name: alice, www.alice or www.alice.<domain>';

  withApiFlags(dns.command('add')
    .description('add a record (an identical one only gets the new TTL)')
    .argument('<name>', nameHelp)
    .argument('<type>', 'A, AAAA, TXT or CNAME', parseRecordType)
    .argument('<value>', 'IPv4, IPv6, text, or a host name')
    .option('--ttl <seconds>', 'time to live (default 60)', parseTtl))
    .action(async (name: string, type: string, value: string, flags: ApiFlags & { ttl?: number }) => {
      const edge = resolveCredentials(flags);
      const result = await callEdge<{ record: RecordView }>(edge, 'POST', namePath(name, 'records'), { type, value, ttl: flags.ttl });
      for (const line of recordLines([result.record])) say(line);
    });

  withApiFlags(dns.command('set')
    .description('replace every record of one type at a name with these values')
    .argument('<name>', nameHelp)
    .argument('<type>', 'A, AAAA, TXT or CNAME', parseRecordType)
    .argument('<values...>', 'one or more values')
    .option('--ttl <seconds>', 'time to live (default: what the records had, else 60)', parseTtl))
    .action(async (name: string, type: string, values: string[], flags: ApiFlags & { ttl?: number }) => {
      const edge = resolveCredentials(flags);
      const result = await callEdge<{ records: RecordView[] }>(edge, 'PUT', namePath(name, 'records', type), { values, ttl: flags.ttl });
      for (const line of recordLines(result.records.filter((record) => record.type === type))) say(line);
    });

  withApiFlags(dns.command('rm')
    .description('remove the records at a name: all, those of one type, or one value')
    .argument('<name>', nameHelp)
    .argument('[type]', 'A, AAAA, TXT or CNAME', parseRecordType)
    .argument('[value]', 'only the record with this value'))
    .action(async (name: string, type: string | undefined, value: string | undefined, flags: ApiFlags) => {
      const edge = resolveCredentials(flags);
      const path = (type === undefined ? namePath(name, 'records') : namePath(name, 'records', type)) +
        (value === undefined ? '' : `?value=${encodeURIComponent(value)}`);
      const result = await callEdge<{ removed: number }>(edge, 'DELETE', path);
      say(`removed ${result.removed} record${result.removed === 1 ? '' : 's'} at ${name}`);
    });

  withJsonFlag(withApiFlags(dns.command('ls')
    .description('list records: of one name (and its sub-names), or of all your names')
    .argument('[name]', nameHelp)))
    .action(async (name: string | undefined, flags: ApiFlags & { json?: boolean }) => {
      const edge = resolveCredentials(flags);
      const records = name === undefined
        ? (await callEdge<{ names: NameView[] }>(edge, 'GET', '/api/v1/names')).names.flatMap((entry) => entry.records)
        : (await callEdge<{ records: RecordView[] }>(edge, 'GET', namePath(name, 'records'))).records;
      if (flags.json) return printJson({ records });
      if (records.length === 0) say('(no records)');
      for (const line of recordLines(records)) say(line);
    });
}
