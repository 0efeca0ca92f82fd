// Test support: agents that authenticate like the real one and then break the tunnel protocol
// on purpose. HostileMuxAgent speaks valid HTTP/2 through the protocol module (createHttp2AgentMux,
// ControlChannel) and misbehaves above it; HostileRawAgent writes raw frames (h2-frames.ts).
import http from 'node:http';
import type http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import {
  ControlChannel,
  EdgeMessage,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  RAW_UPGRADE_PROTOCOL,
  TUNNEL_PATH,
  createHttp2AgentMux,
  isControlStream,
  type AgentMessage,
} from '../../protocol/index.js';
import { eventually } from './eventually.js';
import { FrameReader, FrameType, Flag, STATUS_200, data, headers, ping, settings, settingsAck, type Frame } from './h2-frames.js';

/** Upgrades to the edge's tunnel path with `token`, as the agent's raw transport does, and returns the socket. */
export function dialEdge(serverUrl: string, token: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(TUNNEL_PATH, serverUrl), {
      method: 'GET',
      agent: false,
      headers: { Connection: 'Upgrade', Upgrade: RAW_UPGRADE_PROTOCOL, Authorization: `Bearer ${token}`, [PROTOCOL_HEADER]: String(PROTOCOL_VERSION) },
    });
    req.on('upgrade', (_res, socket, head) => {
      socket.on('error', () => {});
      // The edge's FIN ends the session: no half-open tunnel is left to wait on.
      socket.once('end', () => socket.destroy());
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.on('response', (res) => {
      res.resume();
      reject(new Error(`the edge answered ${res.statusCode} instead of upgrading`));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves once `transport` has closed. */
function closedPromise(transport: Duplex): Promise<void> {
  return new Promise((resolve) => {
    if (transport.destroyed) resolve();
    transport.once('close', () => resolve());
  });
}

type Received = Record<string, unknown> & { type: string };

/**
 * A hostile agent over valid HTTP/2 (the protocol module's own mux). It answers the edge's control
 * stream and then lets the test write anything on it, answer visitor streams however it likes,
 * or misbehave at the socket level.
 */
export class HostileMuxAgent {
  /** Edge messages received on the control stream, in order. */
  readonly messages: Received[] = [];
  /** Called for each visitor stream the edge opens; by default they are left unanswered. */
  onVisitor: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void = () => {};
  /** Settles when the tunnel's transport has closed, whoever closed it. */
  readonly closed: Promise<void>;
  control!: http2.ServerHttp2Stream;

  private constructor(readonly transport: Duplex, readonly mux: http2.ServerHttp2Session) {
    this.closed = closedPromise(transport);
  }

  /** Connects and waits for the edge's control stream (answered 200); no hello is sent. */
  static async connect(serverUrl: string, token: string): Promise<HostileMuxAgent> {
    const transport = await dialEdge(serverUrl, token);
    const agent = new HostileMuxAgent(transport, createHttp2AgentMux(transport));
    const control = new Promise<http2.ServerHttp2Stream>((resolve) => {
      agent.mux.on('stream', (stream, streamHeaders) => {
        stream.on('error', () => {});
        if (!isControlStream(streamHeaders)) {
          agent.onVisitor(stream, streamHeaders);
          return;
        }
        stream.respond({ ':status': 200 });
        const channel = new ControlChannel<typeof EdgeMessage, AgentMessage>(stream, EdgeMessage);
        channel.on('message', (message: EdgeMessage) => agent.messages.push(message as Received));
        channel.on('error', () => {});
        resolve(stream);
      });
    });
    agent.control = await control;
    return agent;
  }

  /** Writes `text` on the control stream as it is (add the newline yourself). */
  write(text: string | Buffer): void {
    if (!this.control.destroyed) this.control.write(text);
  }

  /** Sends one message as a JSON line, valid or not. */
  send(message: unknown): void {
    this.write(`${JSON.stringify(message)}\n`);
  }

  /** The first received message of `type` matching `match`, once it arrives. */
  waitFor(type: string, match: (message: Received) => boolean = () => true, timeoutMs = 10_000): Promise<Received> {
    return eventually(`a ${type} message`, () => this.messages.find((message) => message.type === type && match(message)), { timeoutMs });
  }

  /** Says hello and waits for the welcome. */
  async hello(): Promise<Received> {
    this.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion: 'hostile', features: ['cancel-stream'] });
    return this.waitFor('welcome');
  }

  /** Registers an http route and returns the edge's answer (routeRegistered or routeRefused). */
  async register(requestId: number, name: string, kind: 'http' | 'tcp' = 'http'): Promise<Received> {
    this.send({ type: 'registerRoute', requestId, kind, ...(kind === 'http' ? { name } : {}), target: 'hostile' });
    return eventually(`an answer to registerRoute ${requestId}`, () =>
      this.messages.find((message) => (message.type === 'routeRegistered' || message.type === 'routeRefused') && message.requestId === requestId));
  }

  destroy(): void {
    this.mux.destroy();
    this.transport.destroy();
  }
}

/**
 * A hostile agent writing raw HTTP/2 frames: it does the server side of the handshake by hand
 * (SETTINGS, SETTINGS ACK, 200 on the control stream, hello) and can then send anything.
 */
export class HostileRawAgent {
  /** Every frame received from the edge. */
  readonly frames: Frame[] = [];
  /** Edge control messages (JSON lines on stream 1). */
  readonly messages: Received[] = [];
  readonly closed: Promise<void>;
  /** Answer the edge's SETTINGS and PINGs (turn off to stop reading at the protocol level). */
  autoAnswer = true;
  private readonly reader = new FrameReader(true);
  private controlText = '';

  private constructor(readonly transport: Duplex) {
    this.closed = closedPromise(transport);
    transport.on('data', (chunk: Buffer) => {
      for (const received of this.reader.push(chunk)) this.receive(received);
    });
  }

  /** Connects; nothing is sent yet, not even the server preface. */
  static async connect(serverUrl: string, token: string): Promise<HostileRawAgent> {
    return new HostileRawAgent(await dialEdge(serverUrl, token));
  }

  /** Writes raw bytes, unless the transport is already gone; returns false when it is. */
  write(bytes: Buffer): boolean {
    if (this.transport.destroyed || this.transport.writableEnded) return false;
    this.transport.write(bytes);
    return true;
  }

  /**
   * The server side of the handshake: our SETTINGS (with `extraSettings`), 200 on the control
   * stream once the edge opens it, then hello, and waits for the welcome.
   */
  async handshake(extraSettings: Array<[number, number]> = []): Promise<void> {
    this.write(settings(extraSettings));
    await eventually('the edge to open the control stream', () => (this.frames.some((f) => f.type === FrameType.HEADERS && f.streamId === 1) ? true : undefined));
    this.write(headers(1, STATUS_200));
    this.sendControl(`${JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion: 'hostile-raw' })}\n`);
    await this.waitFor('welcome');
  }

  /** Sends `text` on the control stream (stream 1) in DATA frames of at most `frameBytes`. */
  sendControl(text: string, frameBytes = 16_384): void {
    const bytes = Buffer.from(text);
    for (let offset = 0; offset < bytes.length; offset += frameBytes) this.write(data(1, bytes.subarray(offset, offset + frameBytes)));
  }

  waitFor(type: string, match: (message: Received) => boolean = () => true): Promise<Received> {
    return eventually(`a ${type} message`, () => this.messages.find((message) => message.type === type && match(message)));
  }

  destroy(): void {
    this.transport.destroy();
  }

  private receive(received: Frame): void {
    this.frames.push(received);
    if (!this.autoAnswer) return;
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
          // Not ours to judge here: the tests look at what the edge does, not at its bytes.
        }
      }
    }
  }
}
