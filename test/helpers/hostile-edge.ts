// Test support: a small edge that speaks the tunnel's raw upgrade and HTTP/2 as
// server/tunnel/tunnel-endpoint.ts does, so that tests can point the real agent at it and make
// each connection behave well or break the protocol on purpose.
import http from 'node:http';
import type http2 from 'node:http2';
import { once } from 'node:events';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  AgentMessage,
  ControlChannel,
  PROTOCOL_VERSION,
  RAW_UPGRADE_PROTOCOL,
  TUNNEL_PATH,
  controlStreamHeaders,
  createHttp2EdgeMux,
  visitorStreamHeaders,
  type EdgeMessage,
  type VisitorInfo,
} from '../../protocol/index.js';
import { eventually } from './eventually.js';
import { CLIENT_PREFACE, Flag, FrameReader, FrameType, data, headers, hpack, ping, settings, settingsAck, type Frame } from './h2-frames.js';

type Received = Record<string, unknown> & { type: string };

/** What the edge does with one tunnel connection, once it has answered 101. */
export type EdgeScript = (transport: Duplex) => void | Promise<void>;

/** A fake edge on 127.0.0.1, port 0. Each tunnel connection runs the next script, or {@link EdgeSession.behave}. */
export class HostileEdge {
  /** Scripts for the coming connections, in order. */
  readonly scripts: EdgeScript[] = [];
  /** Every well-behaved session so far, newest last. */
  readonly sessions: EdgeSession[] = [];
  connections = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly server: http.Server, readonly serverUrl: string) {}

  static async start(): Promise<HostileEdge> {
    const server = http.createServer((_req, res) => res.writeHead(404).end());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const edge = new HostileEdge(server, `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      socket.on('error', () => {});
      if (req.url !== TUNNEL_PATH || req.headers.upgrade !== RAW_UPGRADE_PROTOCOL) {
        socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      edge.connections++;
      edge.sockets.add(socket);
      socket.once('close', () => edge.sockets.delete(socket));
      // Upgraded sockets of an HTTP server allow half-open: the agent's FIN alone would not close them.
      socket.once('end', () => socket.destroy());
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${RAW_UPGRADE_PROTOCOL}\r\n\r\n`);
      if (head.length > 0) socket.unshift(head);
      const script = edge.scripts.shift();
      if (script) {
        void Promise.resolve(script(socket)).catch(() => socket.destroy());
        return;
      }
      const session = new EdgeSession(socket);
      edge.sessions.push(session);
      void session.behave().catch(() => session.destroy());
    });
    return edge;
  }

  /** The newest well-behaved session, once it has published the agent's routes. */
  current(): Promise<EdgeSession> {
    return eventually('a well-behaved session with routes', () => {
      const session = this.sessions.at(-1);
      return session && session.routeIds.length > 0 && !session.transport.destroyed ? session : undefined;
    });
  }

  async close(): Promise<void> {
    for (const session of this.sessions) session.destroy();
    for (const socket of this.sockets) socket.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The edge's side of one tunnel over the protocol module (createHttp2EdgeMux, ControlChannel). */
export class EdgeSession {
  readonly mux: http2.ClientHttp2Session;
  readonly control: http2.ClientHttp2Stream;
  /** Agent messages received on the control stream. */
  readonly messages: Received[] = [];
  /** Route ids this session gave out, in the order of the agent's registrations. */
  readonly routeIds: string[] = [];
  readonly closed: Promise<void>;

  constructor(readonly transport: Duplex) {
    this.closed = new Promise((resolve) => transport.once('close', () => resolve()));
    this.mux = createHttp2EdgeMux(transport);
    this.control = this.mux.request(controlStreamHeaders(), { endStream: false });
    this.control.on('error', () => {});
    const channel = new ControlChannel<typeof AgentMessage, EdgeMessage>(this.control, AgentMessage);
    channel.on('message', (message: AgentMessage) => this.messages.push(message as Received));
    channel.on('error', () => {});
  }

  /** Writes on the control stream as it is (add the newline yourself). */
  write(text: string | Buffer): void {
    if (!this.control.destroyed) this.control.write(text);
  }

  send(message: unknown): void {
    this.write(`${JSON.stringify(message)}\n`);
  }

  waitFor(type: string): Promise<Received> {
    return eventually(`a ${type} message from the agent`, () => this.messages.find((message) => message.type === type));
  }

  /** What a real edge does: welcome the hello, register every route the agent asks for. */
  async behave(): Promise<void> {
    await this.waitFor('hello');
    this.send({ type: 'welcome', protocolVersion: PROTOCOL_VERSION, edgeVersion: 'fake', account: 'admin', tunnelId: 'fake' });
    await this.registerAll();
  }

  /** Answers every registerRoute received so far (and those still coming) with routeRegistered. */
  async registerAll(): Promise<void> {
    await eventually('a registerRoute', () => this.messages.find((message) => message.type === 'registerRoute'));
    for (const message of this.messages.filter((m) => m.type === 'registerRoute')) {
      const routeId = `route-${message.requestId}`;
      this.routeIds.push(routeId);
      this.send({ type: 'routeRegistered', requestId: message.requestId, routeId, kind: message.kind, name: message.name ?? 'home', url: `http://${String(message.name ?? 'home')}.localhost` });
    }
  }

  /** Opens a visitor stream for `routeId` (or with `raw` headers) as the edge does for each visitor. */
  openVisitor(routeId: string, raw?: http2.OutgoingHttpHeaders): http2.ClientHttp2Stream {
    const info: VisitorInfo = { routeId, remoteAddress: '192.0.2.1', remotePort: 50_000, scheme: 'http', host: 'home.localhost' };
    const stream = this.mux.request(raw ?? visitorStreamHeaders(info), { endStream: false });
    stream.on('error', () => {});
    return stream;
  }

  /**
   * One HTTP request through a visitor stream to the agent's local server; resolves with the
   * first line the agent sent back (`HTTP/1.1 200 OK`).
   */
  async request(routeId: string, path = '/echo'): Promise<string> {
    const stream = this.openVisitor(routeId);
    stream.end(`GET ${path} HTTP/1.1\r\nHost: home.localhost\r\nConnection: close\r\n\r\n`);
    let text = '';
    stream.setEncoding('latin1');
    for await (const chunk of stream) text += chunk;
    return text.split('\r\n')[0] ?? '';
  }

  /**
   * {@link request} once the agent has taken the route in (a visitor stream can overtake the
   * routeRegistered on its way): retries while the agent refuses the stream.
   */
  served(routeId = this.routeIds[0]!): Promise<string> {
    return eventually(`a request through route ${routeId}`, async () => {
      const line = await this.request(routeId);
      return line === '' ? undefined : line;
    });
  }

  destroy(): void {
    this.mux.destroy();
    this.transport.destroy();
  }
}

/**
 * The edge's side of the handshake in raw frames: client preface and SETTINGS, ACKs, the control
 * stream opened with literal HPACK; `onFrame` sees every frame the agent sends.
 */
export class RawEdgeSession {
  readonly frames: Frame[] = [];
  readonly messages: Received[] = [];
  readonly closed: Promise<void>;
  private readonly reader = new FrameReader(false);
  private controlText = '';

  constructor(readonly transport: Duplex) {
    this.closed = new Promise((resolve) => transport.once('close', () => resolve()));
    transport.on('data', (chunk: Buffer) => {
      for (const received of this.reader.push(chunk)) this.receive(received);
    });
  }

  write(bytes: Buffer): boolean {
    if (this.transport.destroyed || this.transport.writableEnded) return false;
    this.transport.write(bytes);
    return true;
  }

  /** Preface, SETTINGS, the control stream (stream 1) and the welcome once the hello came. */
  async handshake(): Promise<void> {
    this.write(Buffer.concat([CLIENT_PREFACE, settings()]));
    this.write(headers(1, hpack([[':method', 'CONNECT'], [':authority', 'control.udns']])));
    await eventually('the hello', () => this.messages.find((message) => message.type === 'hello'));
    this.sendControl(`${JSON.stringify({ type: 'welcome', protocolVersion: PROTOCOL_VERSION, edgeVersion: 'raw', account: 'admin', tunnelId: 'raw' })}\n`);
  }

  sendControl(text: string): void {
    this.write(data(1, text));
  }

  destroy(): void {
    this.transport.destroy();
  }

  private receive(received: Frame): void {
    this.frames.push(received);
    if (received.type === FrameType.SETTINGS && (received.flags & Flag.ACK) === 0) this.write(settingsAck());
    if (received.type === FrameType.PING && (received.flags & Flag.ACK) === 0) this.write(ping(received.payload, true));
    if (received.type === FrameType.DATA && received.streamId === 1) {
      this.controlText += received.payload.toString();
      let newline: number;
      while ((newline = this.controlText.indexOf('\n')) !== -1) {
        const line = this.controlText.slice(0, newline);
        this.controlText = this.controlText.slice(newline + 1);
        try {
          this.messages.push(JSON.parse(line) as Received);
        } catch {
          // The agent's bytes are not under test here.
        }
      }
    }
  }
}
