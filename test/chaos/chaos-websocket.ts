import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { WEB_NAME } from './chaos-world.js';
import type { OpContext, OpOutcome } from './chaos-operations.js';
import { StallWatchdog } from './stall-watchdog.js';
import { OFFLINE_STATUSES } from './visitor-exchange.js';

/**
 * A WebSocket to the web app's echo through the edge: messages of random sizes, one at a time,
 * with pauses between them (so a fault finds it idle as often as busy). Every echo must be the
 * message sent; a fault may end the session, but it must end (close or error), not hang.
 */
export function webSocketSession(context: OpContext): Promise<OpOutcome> {
  const { random } = context;
  const messages = random.int(2, 25);
  const largest = Math.min(256 * 1024, context.maxTransferBytes);
  return new Promise((resolve) => {
    const violations: string[] = [];
    const findings: string[] = [];
    let echoed = 0;
    let bytes = 0;
    let opened = false;
    let settled = false;
    let pending: Buffer | null = null;
    const ws = new WebSocket(`ws://127.0.0.1:${context.world.edge.httpPort}/ws`, { headers: { host: context.world.hostFor(WEB_NAME) } });
    const watchdog = new StallWatchdog(context.stallBoundMs, () => ws.terminate());
    const settle = (result: OpOutcome['result']): void => {
      if (settled) return;
      settled = true;
      watchdog.stop();
      if (watchdog.hung) violations.push(`WebSocket: hung after ${echoed} of ${messages} echoes (no frame, close or error for the stall bound)`);
      resolve({ kind: 'websocket', result, bytes, violations, findings });
    };
    const sendNext = async (): Promise<void> => {
      if (echoed === messages) {
        ws.close(1000);
        return;
      }
      // The pause counts as progress: silence of our own choosing is not a hang.
      await sleep(random.int(0, context.maxPaceMs * 10));
      watchdog.poke();
      if (ws.readyState !== WebSocket.OPEN) return;
      pending = random.bytes(random.int(1, largest));
      ws.send(pending);
    };
    ws.on('unexpected-response', (req, res) => {
      // The name is offline (edge page) or busy: a refusal before any WebSocket existed.
      res.resume();
      if (!OFFLINE_STATUSES.has(res.statusCode ?? 0)) findings.push(`WebSocket upgrade answered ${res.statusCode}`);
      req.destroy();
      settle('refused');
    });
    ws.on('open', () => {
      opened = true;
      watchdog.poke();
      void sendNext();
    });
    ws.on('message', (data: Buffer) => {
      watchdog.poke();
      context.moving();
      if (!pending || !data.equals(pending)) violations.push(`WebSocket: echo ${echoed + 1} differs from the message sent (${data.length} bytes)`);
      bytes += data.length;
      pending = null;
      echoed++;
      void sendNext();
    });
    ws.on('error', () => {
      // 'close' follows and says how it ended.
    });
    ws.on('close', (code) => {
      if (!opened) settle('refused');
      else settle(echoed === messages && code === 1000 ? 'complete' : 'broken');
    });
  });
}
