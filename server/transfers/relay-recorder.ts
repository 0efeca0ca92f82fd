import {
  MAX_REPORTS_PER_STREAM,
  REPORT_PAIRING_WINDOW_MS,
  TRANSFER_REPORT_BURST,
  TRANSFER_REPORTS_PER_SECOND,
  TRANSFER_TICKET_TTL_MS,
  UdnsError,
  networkOf,
  type EdgeTunnelStream,
  type TransferReport,
  type TransferServed,
  type VisitorInfo,
} from '../../protocol/index.js';
import type { Logger } from '../logger.js';
import type { TransferInput, TransferLog } from './transfer-log.js';

/**
 * How much of an anonymous visitor's address a record keeps: IPv4 /24, IPv6 /48. Coarser than
 * the /32 and /64 the limits count by: a record is kept for good, a limit for minutes.
 */
export const RECORD_NETWORK = { ipv4: 24, ipv6: 48 } as const;

/** Closed streams remembered per tunnel for late reports; the oldest are finished first beyond it. */
const MAX_CLOSED_STREAMS = 10_000;

/** What the tunnel tells the recorder about itself. */
export interface RecordedTunnel {
  readonly id: string;
  readonly account: { readonly id: number; readonly name: string };
  /** The name label of one of this tunnel's http routes, or undefined. */
  routeLabel(routeId: string): string | undefined;
  readonly logger: Logger;
}

/** A logged-in member's relay download the ticket office announced (see {@link TransferRecorder.expectRelay}). */
interface RelayExpectation {
  readonly accountId: number;
  readonly address: string;
  readonly label: string;
  readonly path: string;
  readonly expiresAt: number;
}

/** How long after a relay grant the member's connection is expected. */
const RELAY_EXPECTATION_MS = 60_000;
const MAX_RELAY_EXPECTATIONS = 10_000;

/**
 * The edge's side of the transfer records: one instance per edge, one {@link TunnelRecorder}
 * per tunnel. Writes through the log's buffered writer: a busy route never waits on the database.
 */
export class TransferRecorder {
  private readonly expectations: RelayExpectation[] = [];

  constructor(readonly log: TransferLog, private readonly logger: Logger, private readonly now: () => number = Date.now) {}

  openTunnel(tunnel: RecordedTunnel): TunnelRecorder {
    return new TunnelRecorder(tunnel, this, this.now);
  }

  /**
   * A logged-in member at `address` was told to fetch `label` `path` through the edge: a
   * relayed download of exactly that file from exactly that address within a minute is
   * recorded as theirs (once). The relayed bytes carry no credential (the edge does not read
   * them, and a token would reach the sharer), so this is the link between the two.
   */
  expectRelay(expectation: Omit<RelayExpectation, 'expiresAt'>): void {
    const now = this.now();
    while (this.expectations.length > 0 && (this.expectations[0]!.expiresAt < now || this.expectations.length >= MAX_RELAY_EXPECTATIONS)) this.expectations.shift();
    this.expectations.push({ ...expectation, address: plain(expectation.address), expiresAt: now + RELAY_EXPECTATION_MS });
  }

  /** The member a relayed download is for, if one was announced (used up by this call). */
  claimRelay(address: string, label: string, path: string): number | null {
    const now = this.now();
    const wanted = plain(address);
    const index = this.expectations.findIndex((e) => e.expiresAt >= now && e.address === wanted && e.label === label && e.path === path);
    if (index === -1) return null;
    return this.expectations.splice(index, 1)[0]!.accountId;
  }

  /** A direct or push transfer the sharer's agent reported for a ticket the office issued to it. */
  served(served: TransferServed, ticket: { ticketId: string; accountId: number; label: string; path: string; via: 'direct' | 'push'; expiresAt: number; tunnel: { account: { id: number } } }): void {
    const outcome = served.complete ? 'complete' : served.bytes > 0 ? 'partial' : 'failed';
    this.write({
      reportId: `ticket:${ticket.ticketId}`,
      // What the ticket was for, not what the report says: the edge attributes, the agent counts.
      share: ticket.label,
      path: ticket.path,
      ownerId: ticket.tunnel.account.id,
      receiverId: ticket.accountId,
      via: ticket.via,
      // The agent's clock, kept between the ticket's issue and now.
      startedAt: new Date(clamp(Math.min(served.startedAt, served.endedAt), ticket.expiresAt - TRANSFER_TICKET_TTL_MS, this.now())),
      endedAt: new Date(clamp(served.endedAt, ticket.expiresAt - TRANSFER_TICKET_TTL_MS, this.now())),
      bytes: served.bytes,
      outcome,
      reportedBy: 'agent',
      ticketId: ticket.ticketId,
    });
  }

  write(input: TransferInput): void {
    try {
      this.log.record(input);
    } catch (error) {
      this.logger.error({ err: error }, 'transfer record lost');
    }
  }
}

/** One visitor stream as the edge measured it. */
interface StreamMeter {
  readonly streamId: number;
  readonly routeId: string;
  readonly label: string;
  readonly scheme: VisitorInfo['scheme'];
  readonly address: string;
  readonly startedAt: number;
  down: number;
  up: number;
  /** Bytes of `down` already given to file records. */
  attributed: number;
  closedAt: number | null;
  /** Reports whose bytes have not all arrived yet; settled when they have or at close. */
  readonly waiting: TransferReport[];
  readonly reportIds: Set<string>;
  reports: number;
  receiverId: number | null | undefined;
}

/** The records of one tunnel: meters its visitor streams and pairs the agent's reports with them. */
export class TunnelRecorder {
  private readonly open = new Map<number, StreamMeter>();
  private readonly closed = new Map<number, StreamMeter>();
  private tokens = TRANSFER_REPORT_BURST;
  private refilledAt: number;

  constructor(private readonly tunnel: RecordedTunnel, private readonly recorder: TransferRecorder, private readonly now: () => number) {
    this.refilledAt = now();
  }

  /** Starts metering a visitor stream the tunnel just opened. */
  opened(stream: EdgeTunnelStream, info: VisitorInfo): void {
    const label = this.tunnel.routeLabel(info.routeId);
    if (stream.id === undefined || label === undefined) return;
    const meter: StreamMeter = {
      streamId: stream.id, routeId: info.routeId, label, scheme: info.scheme, address: info.remoteAddress,
      startedAt: this.now(), down: 0, up: 0, attributed: 0, closedAt: null, waiting: [], reportIds: new Set(), reports: 0, receiverId: undefined,
    };
    this.open.set(stream.id, meter);
    stream.on('data', (chunk: Buffer) => {
      meter.down += chunk.length;
      if (meter.waiting.length > 0) this.settle(meter, false);
    });
    // Everything the visitor sends goes through write (the bridge pipes the socket in): counted
    // here so the bridge needs no knowledge of records.
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (typeof chunk === 'string' || chunk instanceof Uint8Array) meter.up += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      return write(chunk, ...rest);
    }) as typeof stream.write;
    stream.once('close', () => this.streamClosed(meter, stream.rstCode === 0 && stream.readableEnded));
  }

  /** An agent's report of a file it sent down one of this tunnel's streams. */
  report(report: TransferReport): UdnsError | null {
    const now = this.now();
    this.tokens = Math.min(TRANSFER_REPORT_BURST, this.tokens + ((now - this.refilledAt) / 1000) * TRANSFER_REPORTS_PER_SECOND);
    this.refilledAt = now;
    if (this.tokens < 1) return new UdnsError('rate_limited', `at most ${TRANSFER_REPORTS_PER_SECOND} transfer reports a second per tunnel`);
    this.tokens--;
    this.forgetOld(now);
    const meter = this.open.get(report.streamId) ?? this.closed.get(report.streamId);
    if (meter === undefined) return new UdnsError('not_found', `stream ${report.streamId} is not a visitor stream this tunnel carried (or it closed over ${REPORT_PAIRING_WINDOW_MS / 1000} s ago)`);
    if (meter.routeId !== report.routeId) return new UdnsError('bad_request', `stream ${report.streamId} was opened for another route`);
    if (meter.scheme === 'tcp') return new UdnsError('bad_request', 'tcp routes carry no files');
    if (report.offset + report.bytes > report.size || report.endedAt < report.startedAt) return new UdnsError('bad_request', 'report does not add up: offset + bytes exceed the size, or it ended before it started');
    if (meter.reportIds.has(report.reportId)) return null;
    if (meter.reports >= MAX_REPORTS_PER_STREAM) return new UdnsError('rate_limited', `at most ${MAX_REPORTS_PER_STREAM} file reports per visitor connection`);
    meter.reports++;
    meter.reportIds.add(report.reportId);
    meter.waiting.push(report);
    this.settle(meter, meter.closedAt !== null);
    return null;
  }

  /** The tunnel is gone: every stream is finished with what was measured. */
  close(): void {
    for (const meter of this.open.values()) this.finish(meter);
    this.open.clear();
    for (const meter of this.closed.values()) this.settle(meter, true);
    this.closed.clear();
  }

  private streamClosed(meter: StreamMeter, _clean: boolean): void {
    if (!this.open.delete(meter.streamId)) return;
    this.finish(meter);
    this.closed.set(meter.streamId, meter);
    if (this.closed.size > MAX_CLOSED_STREAMS) {
      const oldest = this.closed.keys().next().value!;
      this.closed.delete(oldest);
    }
  }

  /** Records the connection's bytes (http records) and settles what its reports still wait for. */
  private finish(meter: StreamMeter): void {
    meter.closedAt = this.now();
    this.settle(meter, true);
    if (meter.scheme === 'tcp') return;
    this.recorder.write({
      reportId: `http:${this.tunnel.id}:${meter.streamId}`,
      share: meter.label,
      path: '',
      ownerId: this.tunnel.account.id,
      receiverNetwork: networkOf(meter.address, RECORD_NETWORK),
      via: 'http',
      startedAt: new Date(meter.startedAt),
      endedAt: new Date(meter.closedAt),
      bytes: meter.down,
      bytesUp: meter.up,
      outcome: 'complete',
      reportedBy: 'edge',
    });
  }

  /**
   * Records the waiting reports whose bytes the edge has carried (all of them once the stream
   * is closed), in order: each gets at most what the edge carried beyond the earlier ones.
   */
  private settle(meter: StreamMeter, all: boolean): void {
    while (meter.waiting.length > 0) {
      const report = meter.waiting[0]!;
      const available = meter.down - meter.attributed;
      if (!all && available < report.bytes) return;
      meter.waiting.shift();
      const bytes = Math.min(report.bytes, Math.max(0, available));
      meter.attributed += bytes;
      // The agent's word "complete" stands only when the edge carried those bytes too.
      const outcome = bytes === 0 ? 'failed' : report.outcome === 'complete' && bytes === report.bytes ? 'complete' : 'partial';
      meter.receiverId ??= this.recorder.claimRelay(meter.address, meter.label, report.path);
      const now = this.now();
      this.recorder.write({
        reportId: `relay:${this.tunnel.id}:${meter.streamId}:${report.reportId}`,
        share: meter.label,
        path: report.path,
        sha256: report.sha256 ?? null,
        size: report.size,
        offset: report.offset,
        ownerId: this.tunnel.account.id,
        receiverId: meter.receiverId,
        receiverNetwork: meter.receiverId === null ? networkOf(meter.address, RECORD_NETWORK) : null,
        via: 'relay',
        // The agent's clock, kept within what the edge saw of the stream.
        startedAt: new Date(clamp(report.startedAt, meter.startedAt, now)),
        endedAt: new Date(clamp(report.endedAt, meter.startedAt, now)),
        bytes,
        outcome,
        reportedBy: 'edge',
      });
    }
  }

  private forgetOld(now: number): void {
    for (const [id, meter] of this.closed) {
      if (meter.closedAt! + REPORT_PAIRING_WINDOW_MS >= now) break;
      this.closed.delete(id);
    }
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/** `::ffff:192.0.2.1` and `192.0.2.1` are one visitor. */
function plain(address: string): string {
  return address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
}
