import { createHmac, randomBytes } from 'node:crypto';
import {
  TRANSFER_PATHS,
  TRANSFER_REQUESTS_PER_MINUTE,
  TRANSFER_TICKET_ACK_TIMEOUT_MS,
  TRANSFER_TICKET_TTL_MS,
  UdnsError,
  networkOf,
  newTicketSecrets,
  plainAddress,
  type ProbeFailure,
  type TransferAccepted,
  type TransferFailed,
  type TransferGrant,
  type TransferPath,
  type TransferRequest,
  type TransferServed,
  type TransferTicket,
} from '../../protocol/index.js';
import type { AccountInfo } from '../accounts/account-store.js';
import { ChangeThrottle } from '../api/change-throttle.js';
import type { Logger } from '../logger.js';
import { probeProof } from '../tunnel/reachability-probe.js';
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js';
import type { TunnelSession } from '../tunnel/tunnel-session.js';
import type { TransferChecks } from './transfer-checks.js';

/** A ticket the office issued, until its agent reports it served or it is long expired. */
export interface IssuedTicket {
  readonly ticketId: string;
  readonly accountId: number;
  readonly receiverAddress: string;
  readonly label: string;
  readonly path: string;
  readonly via: 'direct' | 'push';
  readonly tunnel: TunnelSession;
  readonly expiresAt: number;
}

/** Where the agent's reports of direct and push transfers go (transfer records, H7). */
export type ServedSink = (served: TransferServed, ticket: IssuedTicket) => void;

/** How long a receiver probe's outcome is reused for the same listener. */
const RECEIVER_PROBE_MEMORY_MS = 60_000;
const MAX_REMEMBERED_PROBES = 10_000;

/** How long a served report is still matched to its ticket after the ticket's expiry. */
const REPORT_GRACE_MS = 24 * 3600_000;
/**
 * Tickets remembered for reports, at most: the agent does not say when it drops an unused
 * ticket, so without a bound one network could add 60 a minute for a day. The oldest go first;
 * a transfer still running when 20,000 newer tickets were issued loses its record (~6 MB).
 */
const MAX_ISSUED_TICKETS = 20_000;

/**
 * Hands out transfer tickets (POST /api/v1/transfers). For one file of a share it picks the best
 * path that can work, direct > push > relay, or the one the receiver forces: direct when the
 * sharer's transfer port answered the edge's probe; push when the receiver's own listener does
 * (probed now, at the address the request came from); relay always. A direct or push ticket
 * goes to the sharer's agent over its tunnel, and the receiver gets it only once the agent has
 * taken it, so its connection never races the ticket.
 */
export class TicketOffice {
  private readonly throttle = new ChangeThrottle(TRANSFER_REQUESTS_PER_MINUTE, 60_000);
  private readonly waiting = new Map<string, (outcome: 'accepted' | TransferFailed['reason'] | 'timeout') => void>();
  private readonly issued = new Map<string, IssuedTicket>();
  private readonly receiverProbes = new Map<string, { failure: ProbeFailure | null; until: number }>();
  /** Keys the holder of each ticket: the sharer's agent tells receivers apart but never learns who they are. */
  private readonly holderKey = randomBytes(32);
  /** Told of each relay grant, so the transfer records can name the member who downloads (H7). */
  onRelay: ((grant: { accountId: number; address: string; label: string; path: string }) => void) | null = null;

  constructor(
    private readonly domain: string,
    private readonly registry: Pick<TunnelRegistry, 'lookupHttp'>,
    private readonly checks: TransferChecks,
    private readonly logger: Logger,
    /** Set by whoever keeps transfer records. */
    public onServed: ServedSink | null = null,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * A path for `account` at `clientAddress` to fetch `request.url`.
   * @throws UdnsError `rate_limited`, `bad_request`, `not_found`, `transfer_unavailable`
   */
  async grant(account: AccountInfo, clientAddress: string, request: TransferRequest): Promise<TransferGrant> {
    const receiver = plainAddress(clientAddress);
    if (!this.throttle.tryTake(networkOf(receiver))) {
      throw new UdnsError('rate_limited', `too many transfer requests from your network: at most ${TRANSFER_REQUESTS_PER_MINUTE} a minute`);
    }
    const { label, path } = shareFileOf(this.domain, request.url);
    const entry = this.registry.lookupHttp(label);
    if (entry === undefined) throw new UdnsError('not_found', `${label} is offline or not a name of this edge`);
    const sharer = await this.checks.settled(entry.routeId);
    const folder = path.endsWith('/');
    const forced = request.via;
    const candidates: TransferPath[] = forced !== undefined ? [forced] : TRANSFER_PATHS.filter((via) => via === 'relay' || !request.avoid?.includes(via));
    const log = this.logger.child({ component: 'transfers', account: account.name, receiver, name: label });
    const refusals: string[] = [];
    for (const via of candidates) {
      if (via === 'relay') {
        this.onRelay?.({ accountId: account.id, address: receiver, label, path });
        return { via: 'relay' };
      }
      if (folder) {
        refusals.push(`${via}: only single files go ${via}, not folders`);
        continue;
      }
      if (sharer === undefined) {
        refusals.push(`${via}: ${label} does not offer direct or push transfers (not a share, or an agent without them)`);
        continue;
      }
      if (via === 'direct' && sharer.reachable !== true) {
        refusals.push(`direct: ${label}'s PC is not reachable from outside${sharer.reachable === null ? ' (still being checked)' : ''}`);
        continue;
      }
      if (via === 'push') {
        if (request.receiverPort === undefined || request.receiverKey === undefined) {
          refusals.push('push: the request named no receiver port');
          continue;
        }
        const failure = await this.probeReceiver(receiver, request.receiverPort, request.receiverKey);
        if (failure !== null) {
          refusals.push(`push: your port ${request.receiverPort} is not reachable from the edge (${failure})`);
          continue;
        }
      }
      const ticket: TransferTicket = {
        type: 'transferTicket', ...newTicketSecrets(), routeId: entry.routeId, path, mode: via,
        ...(via === 'push' ? { receiver: { address: receiver, port: request.receiverPort! } } : {}),
        expiresAt: this.now() + TRANSFER_TICKET_TTL_MS,
        // The agent bounds unused tickets and connections per holder, so one member's tickets
        // cannot crowd out the others' (MAX_ARMED_TICKETS_PER_RECEIVER, MAX_TRANSFERS_PER_RECEIVER).
        holder: createHmac('sha256', this.holderKey).update(String(account.id)).digest('hex').slice(0, 32),
      };
      const outcome = await this.handOver(sharer.tunnel, ticket);
      if (outcome !== 'accepted') {
        refusals.push(`${via}: ${label}'s agent did not take the ticket (${outcome})`);
        continue;
      }
      this.remember({ ticketId: ticket.ticketId, accountId: account.id, receiverAddress: receiver, label, path, via, tunnel: sharer.tunnel, expiresAt: ticket.expiresAt });
      log.info({ via, ticket: ticket.ticketId.slice(0, 8), path }, 'transfer ticket issued');
      return via === 'direct'
        ? { via, ticketId: ticket.ticketId, psk: ticket.psk, address: sharer.address, port: sharer.port, expiresAt: ticket.expiresAt }
        : { via, ticketId: ticket.ticketId, psk: ticket.psk, expiresAt: ticket.expiresAt };
    }
    throw new UdnsError('transfer_unavailable', `no ${forced ?? 'direct or push'} path to ${label}${path}: ${refusals.join('; ')}${forced ? '; try without --via' : ''}`);
  }

  /**
   * Probes a receiver's listener, remembering the outcome for a minute per address, port and key
   * (one `udns get` keeps one listener and key): a folder fetched file by file by a firewalled
   * receiver must not wait for a probe timeout per file.
   */
  private async probeReceiver(address: string, port: number, key: string): Promise<ProbeFailure | null> {
    const id = `${address}|${port}|${key}`;
    const now = this.now();
    const known = this.receiverProbes.get(id);
    if (known !== undefined && known.until > now) return known.failure;
    const failure = await probeProof(address, port, randomBytes(16).toString('hex'), key);
    if (this.receiverProbes.size >= MAX_REMEMBERED_PROBES) {
      for (const [old, entry] of this.receiverProbes) if (entry.until <= now) this.receiverProbes.delete(old);
      if (this.receiverProbes.size >= MAX_REMEMBERED_PROBES) this.receiverProbes.clear();
    }
    this.receiverProbes.set(id, { failure, until: now + RECEIVER_PROBE_MEMORY_MS });
    return failure;
  }

  /** The agent's answers to tickets and its reports of what it served. */
  onAgentMessage(tunnel: TunnelSession, message: TransferAccepted | TransferFailed | TransferServed): void {
    if (message.type === 'transferServed') {
      const ticket = this.issued.get(message.ticketId);
      // Only a ticket this agent was given: an agent cannot report transfers of others.
      if (ticket === undefined || ticket.tunnel !== tunnel) return;
      tunnel.logger.info({ ticket: message.ticketId.slice(0, 8), via: message.via, path: message.path, bytes: message.bytes, complete: message.complete }, 'transfer served');
      this.issued.delete(message.ticketId);
      this.onServed?.(message, ticket);
      return;
    }
    const wake = this.waiting.get(message.ticketId);
    if (wake === undefined) return;
    wake(message.type === 'transferAccepted' ? 'accepted' : message.reason);
  }

  /** Sends the ticket down the tunnel and waits for the agent to take it. */
  private handOver(tunnel: TunnelSession, ticket: TransferTicket): Promise<'accepted' | TransferFailed['reason'] | 'timeout' | 'offline'> {
    if (!tunnel.alive) return Promise.resolve('offline');
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish('timeout'), TRANSFER_TICKET_ACK_TIMEOUT_MS);
      const finish = (outcome: 'accepted' | TransferFailed['reason'] | 'timeout'): void => {
        clearTimeout(timer);
        this.waiting.delete(ticket.ticketId);
        resolve(outcome);
      };
      this.waiting.set(ticket.ticketId, finish);
      tunnel.sendTransfer(ticket);
    });
  }

  private remember(ticket: IssuedTicket): void {
    const cutoff = this.now() - REPORT_GRACE_MS;
    for (const [id, old] of this.issued) {
      if (old.expiresAt >= cutoff) break;
      this.issued.delete(id);
    }
    this.issued.set(ticket.ticketId, ticket);
    if (this.issued.size > MAX_ISSUED_TICKETS) this.issued.delete(this.issued.keys().next().value!);
  }

  /** Forgets a closed tunnel's tickets: their reports could only come over that tunnel. */
  tunnelClosed(tunnel: TunnelSession): void {
    for (const [id, ticket] of this.issued) if (ticket.tunnel === tunnel) this.issued.delete(id);
  }
}

/**
 * The share name and decoded file path of a URL on this edge (the query is ignored: the
 * escrow's `<path>?sale=<id>` names the same file). @throws UdnsError `bad_request`
 */
export function shareFileOf(domain: string, text: string): { label: string; path: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UdnsError('bad_request', `"${text.slice(0, 200)}" is not a URL: pass the shared file's address`);
  }
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  const suffix = `.${domain.toLowerCase()}`;
  const label = host.endsWith(suffix) ? host.slice(0, -suffix.length) : '';
  if (label === '' || label.includes('.')) throw new UdnsError('bad_request', `${host} is not a share on ${domain}`);
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    throw new UdnsError('bad_request', 'the URL\'s path is not valid percent-encoding');
  }
  return { label, path };
}
