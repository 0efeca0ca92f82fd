/*
 * A light agent fleet for `npm run bench:scale`: `count` agents in this one process, each a real
 * tunnel built from the real protocol module (the agent's own dialer, mux and control
 * channel; hello, welcome, registerRoute, routeRegistered), each registering one http route
 * named `<prefix>-<i>`. What they lack beside a real agent is the origin: a visitor stream is
 * answered 200 with a one-line body from here. Started with one JSON argument
 * (AgentFleetOptions) and the token in UDNS_TOKEN; prints `{"event":"connected",…}` once every
 * agent is welcomed and its route registered, and stays until stdin closes.
 */
import { dialTunnel } from '../../agent/tunnel-dialer.js';
import {
  AGENT_FEATURES,
  ControlChannel,
  EdgeMessage,
  PROTOCOL_VERSION,
  createAgentMux,
  isControlStream,
  type AgentMessage,
} from '../../protocol/index.js';

export interface AgentFleetOptions {
  serverUrl: string;
  count: number;
  /** Agents dialing at once. */
  batch: number;
  prefix: string;
}

const options = JSON.parse(process.argv[2] ?? '{}') as AgentFleetOptions;
const token = process.env.UDNS_TOKEN ?? '';
const say = (event: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(event)}\n`);

/** Connects one light agent; resolves once its route is registered, with the session to keep. */
async function connectOne(index: number): Promise<{ close(): void }> {
  const transport = await dialTunnel(new URL(options.serverUrl), token, 'raw');
  const mux = createAgentMux(transport, transport.mux);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent ${index}: no route within 30 s`)), 30_000);
    mux.once('close', () => reject(new Error(`agent ${index}: tunnel closed`)));
    mux.on('stream', (stream, headers) => {
      stream.on('error', () => {});
      if (!isControlStream(headers)) {
        stream.respond({ ':status': 200 });
        stream.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
        return;
      }
      stream.respond({ ':status': 200 });
      const control = new ControlChannel<typeof EdgeMessage, AgentMessage>(stream, EdgeMessage);
      control.on('error', (error: Error) => reject(error));
      control.on('message', (message: EdgeMessage) => {
        if (message.type === 'welcome') {
          control.send({ type: 'registerRoute', requestId: 0, kind: 'http', name: `${options.prefix}-${index}`, target: 'bench fleet' });
        } else if (message.type === 'routeRegistered') {
          clearTimeout(timer);
          resolve({ close: () => mux.destroy() });
        } else if (message.type === 'routeRefused' || message.type === 'error') {
          reject(new Error(`agent ${index}: ${message.code} ${message.message}`));
        }
      });
      control.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, agentVersion: 'bench-fleet', features: [...AGENT_FEATURES] });
    });
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  const agents: { close(): void }[] = [];
  for (let first = 0; first < options.count; first += options.batch) {
    const size = Math.min(options.batch, options.count - first);
    agents.push(...await Promise.all(Array.from({ length: size }, (_, i) => connectOne(first + i))));
  }
  say({ event: 'connected', agents: agents.length, seconds: (Date.now() - started) / 1000, rss: process.memoryUsage().rss });
  process.stdin.on('end', () => {
    for (const agent of agents) agent.close();
    process.exit(0);
  });
  process.stdin.resume();
}

main().catch((error: unknown) => {
  say({ event: 'failed', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});
