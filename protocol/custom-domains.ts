import { domainToASCII } from 'node:url';
import { isIP } from 'node:net';
import { z } from 'zod';

/*
 * Custom domains (issue 13): a member points a domain of their own at one of their names with a
 * CNAME and proves control with a TXT record. The edge (server/domains/) and the CLI
 * (`udns domain …`) share the syntax check and the API's shapes from here.
 */

/** Where the proof lives: `_udns-challenge.<domain>`. */
export const DOMAIN_CHALLENGE_LABEL = '_udns-challenge';

/** The owner of a domain's proof TXT record. */
export function challengeRecordName(domain: string): string {
  return `${DOMAIN_CHALLENGE_LABEL}.${domain}`;
}

/**
 * Longest custom domain: a DNS name has at most 253 characters written (RFC 1035: 255 octets on
 * the wire), and `_udns-challenge.<domain>` must be one too.
 */
export const MAX_DOMAIN_LENGTH = 253 - DOMAIN_CHALLENGE_LABEL.length - 1;
/** Custom domains one account may hold, verified or pending. */
export const MAX_DOMAINS_PER_ACCOUNT = 20;

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * A domain as the edge stores it: IDNA (punycode) lower-case, no trailing dot, 2 or more labels
 * of letters, digits and inner hyphens, at most {@link MAX_DOMAIN_LENGTH} characters, a top-level label that is not
 * all digits, not an IP address. `Bücher.Example.` → `xn--bcher-kva.example`.
 * @returns the normalised domain, or the reason it is not one
 */
export function normaliseDomain(input: string): { domain: string } | { problem: string } {
  const text = input.trim().replace(/\.$/, '');
  if (text.length === 0) return { problem: 'is empty' };
  if (isIP(text) !== 0 || isIP(text.replace(/^\[|\]$/g, '')) !== 0) return { problem: 'is an IP address, not a domain name' };
  if (/[\s/:@*_]/.test(text)) return { problem: 'may hold only letters, digits, hyphens and dots (no spaces, ports, paths, wildcards or underscores)' };
  // Before the IDNA step, which refuses such names as malformed IPv4 without saying why.
  if (/^\d+$/.test(text.split('.').at(-1)!)) return { problem: 'ends in an all-digit label' };
  const ascii = domainToASCII(text);
  if (ascii === '') return { problem: 'is not a valid internationalised domain name' };
  if (ascii.length > MAX_DOMAIN_LENGTH) return { problem: `is longer than ${MAX_DOMAIN_LENGTH} characters (its ${DOMAIN_CHALLENGE_LABEL} record must fit in 253)` };
  const labels = ascii.split('.');
  if (labels.length < 2) return { problem: 'needs at least two labels, such as shop.example.com' };
  const bad = labels.find((label) => !LABEL.test(label));
  if (bad !== undefined) return { problem: `has a bad label "${bad}" (1 to 63 letters, digits or inner hyphens)` };
  return { domain: ascii };
}

/** A custom domain at the API boundary: the normalised form, or a zod issue naming the fix. */
export const CustomDomainName = z.string().max(1024).transform((value, context) => {
  const result = normaliseDomain(value);
  if ('problem' in result) {
    context.addIssue({ code: 'custom', message: `"${value.length > 60 ? `${value.slice(0, 60)}…` : value}" ${result.problem}` });
    return z.NEVER;
  }
  return result.domain;
});

/** `POST /api/v1/domains`: claim (or re-point) a domain for one of the caller's names. */
export const AddDomainRequest = z.object({
  domain: CustomDomainName,
  /** A name of the caller's, `alice` (or `alice.<zone>`). */
  name: z.string().min(1).max(300),
}).strict();

/** A custom domain as the API shows it. */
export interface DomainView {
  domain: string;
  /** The member's name it routes to (`alice`). */
  name: string;
  /** `pending` until the proof checks out, `verified` while it does, `failed` after a re-check found it gone. */
  status: 'pending' | 'verified' | 'failed';
  /** The TXT record to publish: its owner and value. */
  txtName: string;
  txtValue: string;
  /** What the domain's CNAME must point at (`alice.<zone>`). */
  cnameTarget: string;
  /** Why the last check failed, when it did. */
  lastError: string | null;
  /** When the proof was last checked, ISO 8601 (null before the first check). */
  checkedAt: string | null;
  /** The domain's own certificate: none yet, or valid until this instant. */
  certificateValidTo: string | null;
  createdAt: string;
}
