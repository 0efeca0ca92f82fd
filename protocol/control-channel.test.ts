import { PassThrough, Duplex } from 'node:stream';
import { describe, expect, test, vi } from 'vitest';
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

  test('regression: a line dribbled one byte per chunk is scanned once, not once per byte (it was quadratic: 2 s of the event loop for 64 KiB)', async () => {
    // Counts the characters the channel looks at (searching for newlines, measuring bytes)
    // instead of timing it: a rescan of everything buffered per chunk shows as n²/2.
    let examined = 0;
    const indexOf = String.prototype.indexOf;
    const byteLength = Buffer.byteLength;
    const scanning = vi.spyOn(String.prototype, 'indexOf').mockImplementation(function (this: string, ...args: Parameters<typeof indexOf>) {
      examined += this.length;
      return indexOf.apply(this, args);
    });
    const measuring = vi.spyOn(Buffer, 'byteLength').mockImplementation((value: Parameters<typeof byteLength>[0], encoding?: BufferEncoding) => {
      if (typeof value === 'string') examined += value.length;
      return byteLength(value, encoding);
    });
    try {
      // A bare PassThrough hands each write to the channel as its own chunk, as HTTP/2 does
      // with each DATA frame.
      const input = new PassThrough();
      const errors: UdnsError[] = [];
      const messages: unknown[] = [];
      const control = new ControlChannel<typeof AgentMessage, EdgeMessage>(input, AgentMessage);
      control.on('error', (error: UdnsError) => errors.push(error));
      control.on('message', (message: unknown) => messages.push(message));
      const text = `{"type":"unregisterRoute","routeId":"${'r'.repeat(60)}"}\n`.repeat(400);
      for (const char of text) input.write(char);
      await tick();
      expect(errors).toEqual([]);
      expect(messages).toHaveLength(400);
      // Each character a few times at most (chunk scan, its byte length, the line's parse).
      expect(examined).toBeLessThan(text.length * 4);
    } finally {
      scanning.mockRestore();
      measuring.mockRestore();
    }
  });

  test('regression: the connection under the stream being reset is a close, not a protocol violation (an agent killed mid-transfer was logged as one)', async () => {
    const { stream, control, errors } = channel();
    let closed = 0;
    control.on('close', () => closed++);
    stream.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    await tick();
    expect(errors).toEqual([]);
    expect(closed).toBe(1);
  });

  test('any other stream error is still a protocol violation', async () => {
    const { stream, control, errors } = channel();
    let closed = 0;
    control.on('close', () => closed++);
    stream.destroy(Object.assign(new Error('stream reset by peer'), { code: 'ERR_HTTP2_STREAM_ERROR' }));
    await tick();
    expect(errors.map((error) => error.code)).toEqual(['protocol_violation']);
    expect(closed).toBe(1);
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
