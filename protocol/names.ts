import { randomInt } from 'node:crypto';
import { UdnsError } from './errors.js';

/** Labels nobody can claim: they belong to the service itself or are commonly abused. */
export const RESERVED_LABELS: ReadonlySet<string> = new Set([
  'www', 'api', 'admin', 'administrator', 'root', 'ns', 'ns1', 'ns2', 'ns3', 'ns4', 'dns',
  'mail', 'smtp', 'imap', 'pop', 'pop3', 'mx', 'ftp', 'webmail', 'autoconfig', 'autodiscover',
  '_udns', '_acme-challenge', 'udns', 'edge', 'tunnel', 'status', 'login', 'auth', 'account',
  'accounts', 'static', 'assets', 'cdn', 'localhost', 'wildcard', 'support', 'help', 'abuse',
  'postmaster', 'hostmaster', 'webmaster', 'security', 'billing', 'dashboard', 'app',
]);

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Checks a name (one DNS label) and returns it lowercased.
 * @throws UdnsError `name_invalid` or `name_reserved`
 */
export function validateName(input: string): string {
  const name = input.toLowerCase();
  if (!LABEL.test(name)) {
    throw new UdnsError(
      'name_invalid',
      `invalid name "${input}": use 1-63 letters, digits or '-', not starting or ending with '-'`,
    );
  }
  if (RESERVED_LABELS.has(name)) {
    throw new UdnsError('name_reserved', `the name "${name}" is reserved, choose another`);
  }
  return name;
}

/** Syntax check only, without the reserved list (for parsing Host headers and DNS names). */
export function isLabel(value: string): boolean {
  return LABEL.test(value);
}

const ADJECTIVES = [
  'amber', 'bold', 'brave', 'brisk', 'calm', 'clever', 'cosy', 'crisp', 'eager', 'fancy',
  'gentle', 'glad', 'golden', 'happy', 'jolly', 'keen', 'kind', 'lively', 'lucky', 'merry',
  'mighty', 'misty', 'noble', 'proud', 'quick', 'quiet', 'rapid', 'shiny', 'silent', 'sunny',
  'swift', 'tidy', 'vivid', 'warm', 'wise', 'witty', 'young', 'zesty',
];
const NOUNS = [
  'badger', 'bear', 'bee', 'cedar', 'cloud', 'comet', 'crane', 'dolphin', 'eagle', 'falcon',
  'fern', 'fox', 'harbor', 'hawk', 'heron', 'island', 'koala', 'lake', 'lark', 'lynx', 'maple',
  'meadow', 'moon', 'otter', 'owl', 'panda', 'pine', 'planet', 'river', 'robin', 'sparrow',
  'star', 'stone', 'tiger', 'valley', 'willow', 'wolf', 'wren',
];

/** A random, readable, claimable name such as `brisk-otter-4821` (~20 bits of randomness). */
export function randomName(): string {
  const pick = (list: readonly string[]): string => list[randomInt(list.length)]!;
  return `${pick(ADJECTIVES)}-${pick(NOUNS)}-${randomInt(1000, 10000)}`;
}
