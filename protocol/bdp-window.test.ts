import http2 from 'node:http2';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { startDelayProxy } from '../bench/delay-proxy.js';
import { eventually } from '../test/helpers/eventually.js';
import { BdpEstimator, windowShare } from './bdp-window.js';
import { duplexFacade } from './duplex-facade.js';
import { MAX_STREAM_WINDOW_BYTES, STREAM_WINDOW_BYTES, TUNNEL_WINDOW_BUDGET_BYTES } from './limits.js';
import { connectionWindowFor, createHttp2AgentMux, createHttp2EdgeMux, openStreamCount, windowTunerOf } from './mux-session.js';

const MIB = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 7);

describe('BdpEstimator', () => {
  it('grows the window to twice a sample that filled 2/3 of it', () => {
    const estimator = new BdpEstimator(MIB, 16 * MIB);
    expect(estimator.sample(0.9 * MIB, 40)).toBe(Math.ceil(1.8 * MIB));
    expect(estimator.window).toBe(Math.ceil(1.8 * MIB));
  });

  it('keeps the window when the link, not the window, limited the sample', () => {
    const estimator = new BdpEstimator(MIB, 16 * MIB);
    expect(estimator.sample(0.5 * MIB, 40)).toBeUndefined();
    expect(estimator.window).toBe(MIB);
  });

  it('does not grow again when a bigger sample only came with a longer round trip (a queue, not bandwidth)', () => {
    const estimator = new BdpEstimator(MIB, 16 * MIB);
    expect(estimator.sample(0.9 * MIB, 40)).toBeDefined();
    // Same bytes per round trip as before but four times the round trip: less bandwidth.
    for (let i = 0; i < 20; i += 1) estimator.sample(1.5 * MIB, 160);
    const settled = estimator.window;
    expect(estimator.sample(1.5 * MIB, 160)).toBeUndefined();
    expect(estimator.window).toBe(settled);
  });

  it('stops at the ceiling and says so', () => {
    const estimator = new BdpEstimator(MIB, 4 * MIB);
    estimator.sample(0.9 * MIB, 10);
    estimator.sample(1.5 * MIB, 10);
    estimator.sample(3 * MIB, 10);
    expect(estimator.window).toBe(4 * MIB);
    expect(estimator.saturated).toBe(true);
    expect(estimator.sample(4 * MIB, 10)).toBeUndefined();
  });
});

describe('the window budget', () => {
  it('gives each open stream an equal share, never under the floor', () => {
    expect(windowShare(64 * MIB, 0, MIB)).toBe(64 * MIB);
    expect(windowShare(64 * MIB, 1, MIB)).toBe(64 * MIB);
    expect(windowShare(64 * MIB, 8, MIB)).toBe(8 * MIB);
    expect(windowShare(64 * MIB, 100, MIB)).toBe(MIB);
  });

  it('caps growth at the share and lowers a grown window when the share shrinks', () => {
    const estimator = new BdpEstimator(MIB, 16 * MIB);
    // The sample asks for 6 MiB; the share allows 4.
    expect(estimator.sample(3 * MIB, 10, 4 * MIB)).toBe(4 * MIB);
    // Nothing to grow into while the share stays 4 MiB.
    expect(estimator.sample(3.5 * MIB, 10, 4 * MIB)).toBeUndefined();
    expect(estimator.lower(2 * MIB)).toBe(2 * MIB);
    expect(estimator.lower(3 * MIB)).toBeUndefined();
    expect(estimator.window).toBe(2 * MIB);
    expect(estimator.saturated).toBe(false);
  });
});

/** A tunnel's two mux ends over real sockets, with a delay proxy in between. */
async function farTunnel(oneWayDelayMs: number, wrap: (socket: net.Socket) => Duplex, cleanups: Array<() => unknown>, wrapAgent: (transport: Duplex) => Duplex = (transport) => transport) {
  let agent: http2.ServerHttp2Session | undefined;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    agent = createHttp2AgentMux(wrapAgent(wrap(socket)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  const proxy = await startDelayProxy({ targetHost: '127.0.0.1', targetPort: (server.address() as net.AddressInfo).port, oneWayDelayMs });
  cleanups.push(() => proxy.close());
  const socket = net.connect({ host: '127.0.0.1', port: proxy.port, allowHalfOpen: true });
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  const edge = createHttp2EdgeMux(wrap(socket));
  cleanups.push(() => edge.destroy());
  await new Promise((resolve) => edge.once('connect', resolve));
  const agentSession = await eventually('the agent session', () => agent);
  cleanups.push(() => agentSession.destroy());
  return { edge, agent: agentSession };
}

/**
 * A hostile peer's transport: passes every frame its mux writes except SETTINGS ACKs, which it
 * counts. Its mux applies the edge's SETTINGS; the edge never hears that it did.
 */
function droppingSettingsAcks(inner: Duplex, dropped: { count: number }): Duplex {
  let pending: Buffer = Buffer.alloc(0);
  const outer = new Duplex({
    allowHalfOpen: true,
    read() {
      inner.resume();
    },
    write(chunk: Buffer, _encoding, done) {
      pending = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
      const kept: Buffer[] = [];
      let at = 0;
      // Frame header: 24-bit length, type, flags, stream id (RFC 9113 §4.1); SETTINGS is 0x4, ACK 0x1.
      while (pending.length - at >= 9) {
        const length = pending.readUIntBE(at, 3);
        if (pending.length - at < 9 + length) break;
        if (pending[at + 3] === 0x4 && (pending[at + 4]! & 0x1) !== 0) dropped.count += 1;
        else kept.push(pending.subarray(at, at + 9 + length));
        at += 9 + length;
      }
      pending = pending.subarray(at);
      if (kept.length > 0) inner.write(Buffer.concat(kept), done);
      else done();
    },
    final(done) {
      inner.end();
      done();
    },
    destroy(error, done) {
      inner.destroy();
      done(error);
    },
  });
  inner.on('data', (chunk: Buffer) => {
    if (!outer.push(chunk)) inner.pause();
  });
  inner.on('end', () => outer.push(null));
  inner.on('close', () => outer.destroy());
  return outer;
}

/** Writes CHUNKs to `stream` until it is closed, honouring backpressure. */
function writeForever(stream: http2.Http2Stream): void {
  const pump = (): void => {
    while (!stream.destroyed && !stream.writableEnded) {
      if (!stream.write(CHUNK)) {
        stream.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

describe('tunnel windows over a 40 ms round trip', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  for (const [transport, wrap] of [
    ['raw socket', (socket: net.Socket): Duplex => socket],
    ['JS stream (the WebSocket and TLS path)', (socket: net.Socket): Duplex => duplexFacade(socket, { passErrors: false })],
  ] as const) {
    it(`grows the edge's window for a download until the peer sends with it (${transport})`, async () => {
      const { edge, agent } = await farTunnel(20, wrap, cleanups);
      let agentStream: http2.ServerHttp2Stream | undefined;
      agent.on('stream', (stream) => {
        agentStream = stream;
        stream.on('error', () => {});
        stream.respond({ ':status': 200 });
        writeForever(stream);
      });
      const download = edge.request({ ':path': '/download' });
      download.on('error', () => {});
      download.resume();

      const tuner = windowTunerOf(edge)!;
      await eventually('the edge window to grow', () => (tuner.estimator.window > STREAM_WINDOW_BYTES ? true : undefined), { timeoutMs: 45_000 });
      // The agent applied the new window: it is what the edge advertised, for every stream.
      await eventually('the agent to see the new window', () => (agent.remoteSettings.initialWindowSize! > STREAM_WINDOW_BYTES ? true : undefined));
      expect(agent.remoteSettings.initialWindowSize).toBeLessThanOrEqual(MAX_STREAM_WINDOW_BYTES);
      expect(edge.state.effectiveLocalWindowSize).toBeGreaterThanOrEqual(connectionWindowFor(STREAM_WINDOW_BYTES));

      // The stream still resets cleanly after the change, at both ends, and the tunnel stays up.
      const closed = new Promise<number | undefined>((resolve) => download.once('close', () => resolve(download.rstCode)));
      download.close(http2.constants.NGHTTP2_CANCEL);
      expect(await closed).toBe(http2.constants.NGHTTP2_CANCEL);
      await eventually('the agent stream to close', () => (agentStream?.closed ? true : undefined));
      expect(agentStream!.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
      expect(edge.destroyed).toBe(false);
      expect(agent.destroyed).toBe(false);
    });
  }

  it("grows the agent's window for an upload", async () => {
    const { edge, agent } = await farTunnel(20, (socket) => socket, cleanups);
    agent.on('stream', (stream) => {
      stream.on('error', () => {});
      stream.respond({ ':status': 200 });
      stream.resume();
    });
    const upload = edge.request({ ':path': '/upload', ':method': 'POST' });
    upload.on('error', () => {});
    writeForever(upload);
    const tuner = windowTunerOf(agent)!;
    await eventually('the agent window to grow', () => (tuner.estimator.window > STREAM_WINDOW_BYTES ? true : undefined), { timeoutMs: 45_000 });
    await eventually('the edge to see the new window', () => (edge.remoteSettings.initialWindowSize! > STREAM_WINDOW_BYTES ? true : undefined));
    upload.close(http2.constants.NGHTTP2_CANCEL);
  });

  it('more open streams bring a grown window down to their share of the budget, at both ends', async () => {
    const { edge, agent } = await farTunnel(20, (socket) => socket, cleanups);
    agent.on('stream', (stream) => {
      stream.on('error', () => {});
      stream.respond({ ':status': 200 });
      writeForever(stream);
    });
    const reader = edge.request({ ':path': '/reads' });
    reader.on('error', () => {});
    reader.resume();
    const tuner = windowTunerOf(edge)!;
    await eventually('the edge window to grow', () => (tuner.estimator.window > STREAM_WINDOW_BYTES ? true : undefined), { timeoutMs: 45_000 });

    // So many stalled streams that the budget's share is the floor: the initial window.
    const crowd = Math.ceil(TUNNEL_WINDOW_BUDGET_BYTES / STREAM_WINDOW_BYTES);
    const stalled = Array.from({ length: crowd }, (_, i) => {
      const stream = edge.request({ ':path': `/stalls/${i}` });
      stream.on('error', () => {});
      stream.pause();
      return stream;
    });
    await eventually('the streams to open', () => (openStreamCount(edge) === crowd + 1 ? true : undefined));
    expect(windowShare(TUNNEL_WINDOW_BUDGET_BYTES, crowd + 1, STREAM_WINDOW_BYTES)).toBe(STREAM_WINDOW_BYTES);
    await eventually('the window to come down to the floor', () => (edge.localSettings.initialWindowSize === STREAM_WINDOW_BYTES && !edge.pendingSettingsAck ? true : undefined), { timeoutMs: 45_000 });
    expect(tuner.estimator.window).toBe(STREAM_WINDOW_BYTES);
    // The agent sends with the lowered window, to the stalled streams and any new one.
    await eventually('the agent to see the lowered window', () => (agent.remoteSettings.initialWindowSize === STREAM_WINDOW_BYTES ? true : undefined));

    // The crowd leaves: the share is the whole budget again, and the tunnel is still up.
    for (const stream of stalled) stream.close(http2.constants.NGHTTP2_CANCEL);
    await eventually('the stalled streams to close', () => (openStreamCount(edge) === 1 ? true : undefined));
    expect(edge.destroyed).toBe(false);
    reader.close(http2.constants.NGHTTP2_CANCEL);
  });

  it('a peer that never acknowledges SETTINGS gets no grown window and crashes nothing (the same download grows it when ACKs pass)', async () => {
    const TOTAL = 24 * MIB;
    const run = async (dropAcks: boolean) => {
      const dropped = { count: 0 };
      const { edge, agent } = await farTunnel(20, (socket) => socket, cleanups, dropAcks ? (transport) => droppingSettingsAcks(transport, dropped) : undefined);
      // The largest stream window the edge's SETTINGS ever gave this peer.
      const seen = { window: agent.remoteSettings.initialWindowSize ?? 0 };
      agent.on('remoteSettings', (settings: http2.Settings) => { seen.window = Math.max(seen.window, settings.initialWindowSize ?? 0); });
      agent.on('stream', (stream) => {
        stream.on('error', () => {});
        stream.respond({ ':status': 200 });
        let sent = 0;
        const pump = (): void => {
          while (sent < TOTAL && !stream.destroyed) {
            sent += CHUNK.length;
            if (!stream.write(CHUNK)) {
              stream.once('drain', pump);
              return;
            }
          }
          if (!stream.destroyed) stream.end();
        };
        pump();
      });
      // Read as fast as it comes: the edge consumes every frame at once, so even a window the
      // edge itself still counts at the default (no ACK) is never overrun.
      const download = edge.request({ ':path': '/download' });
      let received = 0;
      download.on('data', (chunk: Buffer) => { received += chunk.length; });
      await new Promise((resolve, reject) => { download.once('end', resolve); download.once('error', reject); });
      expect(received).toBe(TOTAL);
      return { edge, agent, dropped, get largestWindowSeen() { return seen.window; } };
    };

    const control = await run(false);
    await eventually('the control window to grow', () => (control.largestWindowSeen > STREAM_WINDOW_BYTES ? true : undefined), { timeoutMs: 45_000 });

    const hostile = await run(true);
    expect(hostile.dropped.count).toBeGreaterThan(0);
    expect(hostile.edge.pendingSettingsAck).toBe(true);
    // Nothing measured turned into a SETTINGS frame: the peer never saw a window above the
    // first (the control's peer did).
    expect(control.largestWindowSeen).toBeGreaterThan(STREAM_WINDOW_BYTES);
    expect(hostile.largestWindowSeen).toBe(STREAM_WINDOW_BYTES);
    expect(windowTunerOf(hostile.edge)!.estimator.window).toBe(STREAM_WINDOW_BYTES);
    expect(hostile.agent.remoteSettings.initialWindowSize).toBe(STREAM_WINDOW_BYTES);
    // The tunnel is still up: another stream is served.
    const again = hostile.edge.request({ ':path': '/again' });
    again.resume();
    await new Promise((resolve) => again.once('response', resolve));
    again.close(http2.constants.NGHTTP2_CANCEL);
    expect(hostile.edge.destroyed).toBe(false);
  });

  it('a visitor who stops reading costs the edge at most one stream window, even a grown one', async () => {
    const { edge, agent } = await farTunnel(20, (socket) => socket, cleanups);
    const agentStreams: http2.ServerHttp2Stream[] = [];
    agent.on('stream', (stream) => {
      stream.on('error', () => {});
      agentStreams.push(stream);
      stream.respond({ ':status': 200 });
      writeForever(stream);
    });
    // A download that reads grows the window first.
    const reader = edge.request({ ':path': '/reads' });
    reader.on('error', () => {});
    reader.resume();
    const tuner = windowTunerOf(edge)!;
    await eventually('the edge window to grow', () => (tuner.estimator.window > STREAM_WINDOW_BYTES ? true : undefined), { timeoutMs: 45_000 });

    // A stalled visitor: the edge's stream is never read (as when a visitor's socket is full).
    const stalled = edge.request({ ':path': '/stalls' });
    stalled.on('error', () => {});
    stalled.pause();
    await new Promise((resolve) => stalled.once('response', resolve));
    await eventually('the stalled stream to use up its window', () => (stalled.readableLength > 0 && stalled.state.localWindowSize === 0 ? true : undefined), { timeoutMs: 45_000 });
    const buffered = stalled.readableLength;
    // It was given the grown window, and holds exactly that much: no more is sent to it.
    expect(buffered).toBeGreaterThan(STREAM_WINDOW_BYTES);
    expect(buffered).toBeLessThanOrEqual(MAX_STREAM_WINDOW_BYTES);
    expect(buffered).toBeLessThanOrEqual(edge.localSettings.initialWindowSize!);
    // Its sender is held back: the agent's stream has data waiting that the window does not let out.
    const stalledAtAgent = agentStreams[1]!;
    expect(stalledAtAgent.writableLength).toBeGreaterThan(0);

    // Reading again releases it.
    const more = new Promise<void>((resolve) => stalled.once('data', () => resolve()));
    stalled.resume();
    await more;
    reader.close(http2.constants.NGHTTP2_CANCEL);
    stalled.close(http2.constants.NGHTTP2_CANCEL);
  });
});
