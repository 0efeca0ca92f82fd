import { PassThrough, Duplex } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { ControlChannel } from './control-channel.js';
import { MAX_CONTROL_FRAME_BYTES } from './limits.js';
import { AgentMessage, type EdgeMessage } from './messages.js';
import type { UdnsError } from './errors.js';

/** A duplex whose input we write to and whose output we read. */
function pipePair(): { stream: Duplex; input: PassThrough; output: PassThrough } {
  const input = new PassThrough();
  const output = new PassThrough();
  const stream = Duplex.from({ readable: input, writable: output });
  return { stream, input, output };
}

function channel() {
  const pair = pipePair();
  const control = new ControlChannel<typeof AgentMessage, EdgeMessage>(pair.stream, AgentMessage);
  const messages: unknown[] = [];
  const errors: UdnsError[] = [];
  control.on('message', (m) => messages.push(m));
  control.on('error', (e) => errors.push(e));
  return { ...pair, control, messages, errors };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('ControlChannel', () => {
  test('parses messages split across chunks and several per chunk', async () => {
    const { input, messages, errors } = channel();
    const hello = JSON.stringify({ type: 'hello', protocolVersion: 1, agentVersion: 'x' });
    input.write(hello.slice(0, 10));
    input.write(`${hello.slice(10)}\n${JSON.stringify({ type: 'unregisterRoute', routeId: 'r' })}\n`);
    await tick();
    expect(errors).toEqual([]);
    expect(messages).toEqual([{ type: 'hello', protocolVersion: 1, agentVersion: 'x' }, { type: 'unregisterRoute', routeId: 'r' }]);
  });

  test('a line that is not JSON is a protocol violation', async () => {
    const { input, errors } = channel();
    input.write('{nope\n');
    await tick();
    expect(errors.map((e) => e.code)).toEqual(['protocol_violation']);
  });

  test('an unknown message or an extra field is refused (strict schemas)', async () => {
    const a = channel();
    a.input.write('{"type":"launchMissiles"}\n');
    const b = channel();
    b.input.write(`${JSON.stringify({ type: 'hello', protocolVersion: 1, agentVersion: 'x', admin: true })}\n`);
    await tick();
    expect(a.errors[0]?.code).toBe('protocol_violation');
    expect(b.errors[0]?.code).toBe('protocol_violation');
  });

  test('a wrong protocol version is refused', async () => {
    const { input, errors } = channel();
    input.write(`${JSON.stringify({ type: 'hello', protocolVersion: 999, agentVersion: 'x' })}\n`);
    await tick();
    expect(errors[0]?.code).toBe('protocol_violation');
  });

  test('a line over the frame limit ends the channel without buffering it all', async () => {
    const { input, errors, stream } = channel();
    input.write('x'.repeat(MAX_CONTROL_FRAME_BYTES + 1));
    await tick();
    expect(errors[0]?.message).toContain(`larger than ${MAX_CONTROL_FRAME_BYTES}`);
    expect(stream.destroyed).toBe(true);
  });

  test('a line dribbled one byte per chunk costs no more than as many bytes in short lines (it was quadratic: 2 s for 64 KiB)', async () => {
    // CPU time of this process, least of three runs: other processes on the machine do not count.
    const cpuMs = async (feed: (input: PassThrough) => void): Promise<number> => {
      let least = Infinity;
      for (let run = 0; run < 3; run++) {
        // A bare PassThrough hands each write to the channel as its own chunk, as HTTP/2 does
        // with each DATA frame.
        const input = new PassThrough();
        const errors: UdnsError[] = [];
        new ControlChannel<typeof AgentMessage, EdgeMessage>(input, AgentMessage).on('error', (error: UdnsError) => errors.push(error));
        const before = process.cpuUsage();
        feed(input);
        await tick();
        const used = process.cpuUsage(before);
        least = Math.min(least, (used.user + used.system) / 1000);
        expect(errors).toEqual([]);
      }
      return least;
    };
    const message = `${JSON.stringify({ type: 'unregisterRoute', routeId: 'r' })}\n`;
    const chars = MAX_CONTROL_FRAME_BYTES - 64;
    // The same number of one-character chunks: short valid lines, then one line of it all.
    const shortLines = await cpuMs((input) => {
      const text = message.repeat(Math.floor(chars / message.length));
      for (const char of text) input.write(char);
    });
    const oneLine = await cpuMs((input) => {
      const text = `{"type":"unregisterRoute","routeId":"${'r'.repeat(chars - 40)}"}\n`;
      for (const char of text) input.write(char);
    });
    console.log(`one-byte chunks: ${shortLines.toFixed(0)} ms CPU as short lines, ${oneLine.toFixed(0)} ms as one line`);
    expect(oneLine).toBeLessThan(shortLines * 5);
  });

  test('send writes one JSON line; nothing after close', async () => {
    const { control, output } = channel();
    const lines: string[] = [];
    output.on('data', (chunk) => lines.push(String(chunk)));
    control.send({ type: 'routeClosed', routeId: 'r', code: 'replaced', message: 'moved' });
    control.close();
    control.send({ type: 'routeClosed', routeId: 'r2', code: 'replaced', message: 'late' });
    await tick();
    expect(lines.join('')).toBe('{"type":"routeClosed","routeId":"r","code":"replaced","message":"moved"}\n');
  });
});
