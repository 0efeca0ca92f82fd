import type { Command } from 'commander';
import { checkRouteAccessSpec, parseBasicAuth, type RouteAccessSpec } from '../protocol/index.js';

/** `--basic-auth`, `--allow-ip`, `--deny-ip` as commander hands them over. */
export interface AccessFlags {
  basicAuth: string[];
  allowIp: string[];
  denyIp: string[];
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/**
 * Adds the access flags to `udns http`, `udns share` (all three) or `udns tcp` (IP rules only:
 * raw TCP carries any protocol, so there is no request to ask a password in).
 */
export function withAccessFlags(command: Command, kind: 'http' | 'tcp'): Command {
  if (kind === 'http') {
    command.option('--basic-auth <user:password>', 'ask visitors for this user name and password (HTTP Basic; repeat for more users); the app never sees the header', collect, [] as string[]);
  }
  return command
    .option('--allow-ip <cidr>', 'only visitors from this network (203.0.113.0/24, 2001:db8::/48, or one address); repeat for more', collect, [] as string[])
    .option('--deny-ip <cidr>', 'refuse visitors from this network, even an allowed one; repeat for more', collect, [] as string[]);
}

/**
 * The route's access rules from the flags, checked here so a mistake is one line before
 * anything connects. Empty: `{}` (no rules, nothing installed).
 * @throws UdnsError `config_invalid`
 */
export function accessRouteSpec(flags: Partial<AccessFlags>, kind: 'http' | 'tcp'): { access?: RouteAccessSpec } {
  const spec: RouteAccessSpec = {};
  if ((flags.basicAuth?.length ?? 0) > 0) spec.basicAuth = flags.basicAuth!.map(parseBasicAuth);
  if ((flags.allowIp?.length ?? 0) > 0) spec.allowIp = flags.allowIp;
  if ((flags.denyIp?.length ?? 0) > 0) spec.denyIp = flags.denyIp;
  if (Object.keys(spec).length === 0) return {};
  checkRouteAccessSpec(spec, kind);
  return { access: spec };
}
