import { InvalidArgumentError, type Command } from 'commander';
import { UdnsError } from '../protocol/index.js';
import { MAX_ALLOWED_MEMBERS, MEMBER_NAME, type PrivateAccess } from '../protocol/private-route.js';

/** The flags of `udns http|tcp` that make a route private. */
export interface PrivateFlags {
  private?: boolean;
  allowMember?: string[];
}

/** Adds `--private` and `--allow-member <account>` (repeatable) to an exposing command. */
export function withPrivateFlags(command: Command): Command {
  return command
    .option('--private', 'no public URL: only you and the members you allow reach it, with `udns connect <name>`')
    .option('--allow-member <account>', 'with --private: a member account that may connect (repeatable; you always may)', collectMember, []);
}

function collectMember(value: string, previous: string[]): string[] {
  return [...previous, parseMember(value)];
}

/** An account name as `--allow-member` and `allowMembers:` take it, lowercased. */
export function parseMember(value: string): string {
  const member = value.trim().toLowerCase();
  if (!MEMBER_NAME.test(member)) throw new InvalidArgumentError(`"${value}" is not an account name (1-32 letters, digits or '-')`);
  return member;
}

/**
 * The route spec's `private` part for these flags: nothing for a public route.
 * @throws UdnsError `config_invalid` for --allow-member without --private, or too many members
 */
export function privateRouteSpec(flags: PrivateFlags): { private?: PrivateAccess } {
  const members = [...new Set(flags.allowMember ?? [])];
  if (!flags.private) {
    if (members.length > 0) throw new UdnsError('config_invalid', '--allow-member needs --private (a public route is open to everyone)');
    return {};
  }
  if (members.length > MAX_ALLOWED_MEMBERS) throw new UdnsError('config_invalid', `a private route may allow at most ${MAX_ALLOWED_MEMBERS} members`);
  return { private: { allowMembers: members } };
}
