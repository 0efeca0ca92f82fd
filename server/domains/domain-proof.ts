import { Resolver } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { challengeRecordName } from '../../protocol/index.js';

/** How long one DNS question may take, and how often it is asked, before the check counts as undecided. */
const RESOLVE_TIMEOUT_MS = 3000;
const RESOLVE_TRIES = 2;

/**
 * What a proof check found. `failed`: the domain's DNS answered, and the answer is not the
 * proof (TXT gone or changed, pointing elsewhere): a re-check revokes. `undecided`: DNS did not
 * answer (timeout, SERVFAIL, refused): a re-check keeps the domain as it is and tries again.
 */
export type ProofOutcome = { kind: 'proven' } | { kind: 'failed' | 'undecided'; reason: string };

/** DNS error codes that are an answer ("no such name", "no such record"), not a failure to get one. */
const DEFINITIVE = new Set(['ENODATA', 'ENOTFOUND']);

/**
 * Checks custom-domain proofs through one resolver: the system's, or `host:port` (`--domain-resolver`).
 * A domain is proven when `_udns-challenge.<domain>` has a TXT record whose value is the token,
 * and the domain reaches the edge: a CNAME to `<name>.<zone>`, or else A/AAAA records that are
 * all the edge's own public addresses (an apex domain cannot hold a CNAME).
 */
export class DomainProofs {
  readonly #resolver: Resolver;

  /**
   * @param server `host:port` or `[v6]:port` of the resolver to ask; the system's when absent
   * @param edgeAddresses the edge's public IPv4 (and IPv6) address
   */
  constructor(server: string | undefined, private readonly edgeAddresses: readonly string[]) {
    this.#resolver = new Resolver({ timeout: RESOLVE_TIMEOUT_MS, tries: RESOLVE_TRIES });
    if (server !== undefined) this.#resolver.setServers([server]);
  }

  async check(domain: string, token: string, target: string): Promise<ProofOutcome> {
    const txtName = challengeRecordName(domain);
    const txt = await this.#ask(() => this.#resolver.resolveTxt(txtName));
    if (txt.kind !== 'answer') return txt.kind === 'none'
      ? { kind: 'failed', reason: `no TXT record at ${txtName}: publish it with the value \`udns domain add\` printed` }
      : { kind: 'undecided', reason: `the DNS lookup of ${txtName} TXT failed (${txt.code}): try again later` };
    if (!txt.value.some((chunks) => chunks.join('') === token)) {
      return { kind: 'failed', reason: `the TXT record at ${txtName} does not hold this account's value: set it to the value \`udns domain list\` shows` };
    }
    const cname = await this.#ask(() => this.#resolver.resolveCname(domain));
    if (cname.kind === 'error') return { kind: 'undecided', reason: `the DNS lookup of ${domain} CNAME failed (${cname.code}): try again later` };
    if (cname.kind === 'answer' && cname.value.length > 0) {
      const points = cname.value.map((value) => value.toLowerCase().replace(/\.$/, ''));
      if (points.includes(target)) return { kind: 'proven' };
      return { kind: 'failed', reason: `${domain} is a CNAME to ${points.join(', ')}, not to ${target}: point it at ${target}` };
    }
    const addresses: string[] = [];
    for (const lookup of [() => this.#resolver.resolve4(domain), () => this.#resolver.resolve6(domain)]) {
      const found = await this.#ask(lookup);
      if (found.kind === 'error') return { kind: 'undecided', reason: `the DNS lookup of ${domain} failed (${found.code}): try again later` };
      if (found.kind === 'answer') addresses.push(...found.value);
    }
    // A BlockList compares addresses, not spellings (2001:db8::1 and 2001:0db8:0::1 are one).
    const ours = new BlockList();
    for (const address of this.edgeAddresses) ours.addAddress(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
    if (addresses.length > 0 && addresses.every((address) => ours.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4'))) return { kind: 'proven' };
    return {
      kind: 'failed',
      reason: addresses.length === 0
        ? `${domain} has no CNAME and no address: add the record ${domain} CNAME ${target}`
        : `${domain} points at ${addresses.join(', ')}, not at this edge: add the record ${domain} CNAME ${target} instead`,
    };
  }

  async #ask<T>(lookup: () => Promise<T>): Promise<{ kind: 'answer'; value: T } | { kind: 'none' } | { kind: 'error'; code: string }> {
    try {
      return { kind: 'answer', value: await lookup() };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
      return DEFINITIVE.has(code) ? { kind: 'none' } : { kind: 'error', code };
    }
  }
}
