import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { networkOf } from '../../protocol/index.js';
import type { AccessLog } from '../access-log/access-log.js';
import type { EdgeMetrics, RefusalReason } from '../metrics/edge-metrics.js';
import { RECORD_NETWORK } from '../transfers/relay-recorder.js';
import { ExchangeWatch, type ObservedExchange } from './exchange-watch.js';
import { printable, type RefusedReason, type RefusedRequestFields } from './refused-request.js';

/** Longest path kept in an access log line. */
const MAX_LOGGED_PATH = 2048;

/** What a bridge tells the observer once a visitor's connection has its tunnel stream. */
export interface VisitorWatch {
  /** The stream is open and the bridge forwards: `firstBytes` already went (the front door's peek). */
  attach(socket: Socket, stream: Duplex, firstBytes: Buffer | null): void;
}

/** A visitor's request the edge answered itself, for its access-log line. */
export interface RefusedRequest extends RefusedRequestFields {
  readonly reason: RefusedReason;
  readonly status: number;
  /** Bytes read from the visitor so far (the head, maybe more). */
  readonly bytesIn: number;
  /** Bytes of the answer. */
  readonly bytesOut: number;
  /** Wall-clock (Date.now()) and monotonic (performance.now()) time of the request's first byte. */
  readonly startedAt: number;
  readonly startedAtMono: number;
}

/** Who a visitor connection is for. */
export interface VisitorTarget {
  readonly account: string;
  /** The name (label) the route serves; for a tcp route without one, `tcp:<port>`. */
  readonly name: string;
}

/**
 * The edge's eyes on visitor connections bridged into tunnels: counts them and their bytes for
 * the metrics, and, when `observeRequests` is on, tells the HTTP requests and responses apart
 * in the bytes going by (ExchangeWatch: nothing is changed or held) for the latency histogram
 * and the access log. The front door and the registry ask it for a {@link VisitorWatch} per
 * connection; the bridge attaches it (one line each).
 */
export class VisitorObserver {
  constructor(
    private readonly metrics: EdgeMetrics,
    private readonly accessLog: AccessLog | null,
    /** Per-request observation (access log, latency histogram); off: connections and bytes only. */
    private readonly observeRequests: boolean,
  ) {}

  /** A visitor connection on an http route (its first request may ask for an upgrade). */
  http(target: VisitorTarget, kind: 'http' | 'upgrade'): VisitorWatch {
    return { attach: (socket, stream, firstBytes) => this.attach(socket, stream, firstBytes, target, kind) };
  }

  /** A visitor connection on a tcp route. */
  tcp(target: VisitorTarget, port: number): VisitorWatch {
    return { attach: (socket, stream, firstBytes) => this.attach(socket, stream, firstBytes, target, 'tcp', port) };
  }

  refused(reason: RefusalReason): void {
    this.metrics.refused(reason);
  }

  /**
   * True when requests the edge answers itself get an access-log line. Callers describe a
   * refusal only then: without `--access-log` a refusal costs nothing more than before.
   */
  get logsRefusals(): boolean {
    return this.accessLog !== null;
  }

  /** The access-log line of a request the edge answered itself (call only when {@link logsRefusals}). */
  refusedRequest(socket: Socket, request: RefusedRequest): void {
    this.log({
      time: new Date(request.startedAt).toISOString(),
      kind: 'http',
      name: request.name,
      ...(request.name === null && request.host !== null ? { host: request.host } : {}),
      client: clientNetwork(socket),
      method: request.method,
      path: loggedPath(request.target),
      status: request.status,
      bytesIn: request.bytesIn,
      bytesOut: request.bytesOut,
      durationMs: round(performance.now() - request.startedAtMono),
      refused: request.reason,
    });
  }

  /** The access-log line of a tcp visitor closed before reaching the agent (call only when {@link logsRefusals}, before the socket is destroyed). */
  refusedConnection(socket: Socket, target: VisitorTarget, port: number, reason: RefusedReason): void {
    this.log({ time: new Date().toISOString(), kind: 'tcp', name: target.name, port, client: clientNetwork(socket), bytesIn: 0, bytesOut: 0, durationMs: 0, refused: reason });
  }

  /**
   * A visitor's request the edge's own app answers (a name whose agent is offline, an unknown
   * one): its line is written once the answer is (call only when {@link logsRefusals}).
   */
  refusedByApp(req: http.IncomingMessage, res: http.ServerResponse, reason: RefusedReason, fields: RefusedRequestFields): void {
    const socket = req.socket;
    const startedAt = Date.now();
    const startedAtMono = performance.now();
    const writtenBefore = socket.bytesWritten;
    // 'close' also comes when the visitor leaves before the whole answer went out.
    res.once('close', () => {
      this.refusedRequest(socket, { ...fields, reason, status: res.statusCode, startedAt, startedAtMono, bytesIn: readSinceLastLine(socket), bytesOut: socket.bytesWritten - writtenBefore });
    });
  }

  /** The same for a WebSocket (upgrade) request the edge's app answered with `bytesOut` bytes. */
  refusedUpgradeByApp(req: http.IncomingMessage, reason: RefusedReason, fields: RefusedRequestFields, status: number, bytesOut: number): void {
    this.refusedRequest(req.socket, { ...fields, reason, status, startedAt: Date.now(), startedAtMono: performance.now(), bytesIn: readSinceLastLine(req.socket), bytesOut });
  }

  private attach(socket: Socket, stream: Duplex, firstBytes: Buffer | null, target: VisitorTarget, kind: 'http' | 'upgrade' | 'tcp', port?: number): void {
    const { metrics } = this;
    metrics.streamOpened(kind);
    // Bytes per name are the TrafficMeter's (the bridge counts them for the quotas) when the edge has one.
    const traffic = metrics.sources.traffic === undefined ? metrics.traffic.entry(target.account, target.name) : null;
    const watch = kind !== 'tcp' && this.observeRequests
      ? new ExchangeWatch((exchange) => this.exchanged(target, socket, exchange))
      : null;
    const tcpLine = kind === 'tcp' && this.accessLog !== null;
    if (traffic === null && watch === null && !tcpLine) {
      // Nothing to read in the bytes: no listener on the data path at all.
      socket.once('close', () => metrics.streamClosed(kind));
      return;
    }
    // Read now: a socket's address may be gone by the time its last line is written (at the close).
    if (this.accessLog !== null) clientNetwork(socket);
    const startedAt = Date.now();
    const startedAtMono = performance.now();
    let bytesIn = 0;
    let bytesOut = 0;
    const fromVisitor = (chunk: Buffer): void => {
      bytesIn += chunk.length;
      if (traffic !== null) traffic.bytesIn += chunk.length;
      watch?.fromVisitor(chunk);
    };
    if (firstBytes !== null && firstBytes.length > 0) fromVisitor(firstBytes);
    socket.on('data', fromVisitor);
    stream.on('data', (chunk: Buffer) => {
      bytesOut += chunk.length;
      if (traffic !== null) traffic.bytesOut += chunk.length;
      watch?.toVisitor(chunk);
    });
    if (watch !== null) stream.once('end', () => watch.responsesEnded());
    socket.once('close', () => {
      metrics.streamClosed(kind);
      if (watch !== null) watch.closed();
      else if (tcpLine) this.log({ time: new Date(startedAt).toISOString(), kind, name: target.name, port, client: clientNetwork(socket), bytesIn, bytesOut, durationMs: round(performance.now() - startedAtMono) });
    });
  }

  private exchanged(target: VisitorTarget, socket: Socket, exchange: ObservedExchange): void {
    this.metrics.httpRequest(exchange.status, exchange.durationMs);
    this.log({
      time: new Date(exchange.startedAt).toISOString(),
      kind: 'http',
      name: target.name,
      client: clientNetwork(socket),
      method: exchange.method,
      path: loggedPath(exchange.target),
      status: exchange.status,
      bytesIn: exchange.bytesIn,
      bytesOut: exchange.bytesOut,
      durationMs: round(exchange.durationMs),
    });
  }

  private log(line: Record<string, unknown>): void {
    this.accessLog?.write(JSON.stringify(line));
  }
}

/**
 * The path of a request target without its query: query strings carry tokens and personal data
 * often enough (`?token=`, `?email=`) that an operator's log should not keep them.
 */
export function loggedPath(target: string | null): string | null {
  if (target === null) return null;
  let path = target;
  // absolute-form (`GET http://host/a HTTP/1.1`): the path part.
  if (!path.startsWith('/')) {
    const match = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*(.*)$/i.exec(path);
    if (match !== null) path = match[1] || '/';
  }
  const query = path.search(/[?#]/);
  if (query !== -1) path = path.slice(0, query);
  // Bytes the framing reader let through (over 0x7e, DEL) are %XX: no C1 control reaches a terminal.
  return printable(path, MAX_LOGGED_PATH);
}

/** bytesRead of a connection when its last line for an app-answered request was written. */
const appRead = new WeakMap<Socket, number>();

/**
 * Bytes read from a connection the edge's app serves since its previous line: the request's head
 * was read before the app saw it (an apex request kept alive before it counts too).
 */
function readSinceLastLine(socket: Socket): number {
  const read = socket.bytesRead;
  const since = read - (appRead.get(socket) ?? 0);
  appRead.set(socket, read);
  return since;
}

/** The visitor's network as transfer records keep it (/24, /48), computed per line: cheap next to the line. */
const networks = new WeakMap<Socket, string>();
function clientNetwork(socket: Socket): string {
  let network = networks.get(socket);
  if (network === undefined) {
    network = networkOf(socket.remoteAddress ?? '', RECORD_NETWORK);
    networks.set(socket, network);
  }
  return network;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
