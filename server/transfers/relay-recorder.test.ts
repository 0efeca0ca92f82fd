import type http2 from 'node:http2';
import { Duplex } from 'node:stream';
import pino from 'pino';
import { describe, expect, test } from 'vitest';
import { REPORT_PAIRING_WINDOW_MS, TRANSFER_REPORT_BURST, type TransferReport } from '../../protocol/index.js';
import { TransferRecorder } from './relay-recorder.js';
import type { TransferInput, TransferLog } from './transfer-log.js';

/** A visitor stream as the recorder sees it: bytes from the agent ('data'), writes from the visitor, 'close'. */
class FakeStream extends Duplex {
  rstCode = 0;
  constructor(readonly id: number) {
    super({ read() {}, write: (_chunk, _encoding, done) => done() });
  }
  fromAgent(bytes: number): void {
    this.emit('data', Buffer.alloc(bytes));
  }
  finish(): void {
    this.emit('close');
  }
}

function setUp() {
  const written: TransferInput[] = [];
  const log = { record: (input: TransferInput) => written.push(input) } as unknown as TransferLog;
  let now = 1_000_000;
  const recorder = new TransferRecorder(log, pino({ level: 'silent' }), () => now);
  const tunnel = recorder.openTunnel({
    id: 't1', account: { id: 7, name: 'alice' }, logger: pino({ level: 'silent' }),
    routeLabel: (routeId) => (routeId === 'r1' ? 'alice-files' : undefined),
  });
  const open = (id: number, address = '198.51.100.23') => {
    const stream = new FakeStream(id);
    tunnel.opened(stream as unknown as http2.ClientHttp2Stream, { routeId: 'r1', remoteAddress: address, remotePort: 5000, scheme: 'http', host: 'alice-files.localhost' });
    return stream;
  };
  let n = 0;
  const report = (streamId: number, extra: Partial<TransferReport> = {}): TransferReport => ({
    type: 'transferReport', reportId: `report-${String(++n).padStart(12, '0')}`, routeId: 'r1', streamId, path: `/f${n}.bin`,
    size: 1000, offset: 0, bytes: 1000, outcome: 'complete', startedAt: now - 10, endedAt: now, ...extra,
  });
  return { recorder, tunnel, open, report, written, files: () => written.filter((w) => w.via === 'relay'), advance: (ms: number) => { now += ms; } };
}

describe('relay recorder: the agent\'s reports paired with the edge\'s own byte counts', () => {
  test('two files on one keep-alive connection: each waits for its bytes, and each gets its own share of them', () => {
    const { tunnel, open, report, files, written } = setUp();
    const stream = open(1);
    stream.write(Buffer.alloc(300));
    expect(tunnel.report(report(1, { bytes: 1000 }))).toBeNull();
    stream.fromAgent(600);
    expect(files()).toEqual([]);
    stream.fromAgent(600);
    expect(files()).toMatchObject([{ share: 'alice-files', path: '/f1.bin', bytes: 1000, outcome: 'complete', ownerId: 7, receiverNetwork: '198.51.100.0/24' }]);
    // The second file's report claims 1000 bytes, but only 200 + 100 more went through the edge.
    expect(tunnel.report(report(1, { bytes: 1000 }))).toBeNull();
    stream.fromAgent(100);
    stream.finish();
    expect(files()[1]).toMatchObject({ path: '/f2.bin', bytes: 300, outcome: 'partial' });
    expect(written.find((w) => w.via === 'http')).toMatchObject({ bytes: 1300, bytesUp: 300, path: '', reportId: 'http:t1:1' });
  });

  test('a report after the stream closed pairs within the window, not after; a report sent twice is recorded once', () => {
    const { tunnel, open, report, files, advance } = setUp();
    const stream = open(3);
    stream.fromAgent(500);
    stream.finish();
    const late = report(3, { bytes: 500, size: 500 });
    expect(tunnel.report(late)).toBeNull();
    expect(tunnel.report(late)).toBeNull();
    expect(files()).toHaveLength(1);
    advance(REPORT_PAIRING_WINDOW_MS + 1);
    expect(tunnel.report(report(3))?.code).toBe('not_found');
    expect(files()).toHaveLength(1);
  });

  test('refused: unknown streams, other routes, reports that do not add up, and floods', () => {
    const { tunnel, open, report, files } = setUp();
    open(5).fromAgent(100);
    expect(tunnel.report(report(7))?.code).toBe('not_found');
    expect(tunnel.report(report(5, { routeId: 'r2' }))?.code).toBe('bad_request');
    expect(tunnel.report(report(5, { offset: 900, bytes: 200 }))?.code).toBe('bad_request');
    expect(tunnel.report(report(5, { startedAt: 10, endedAt: 5 }))?.code).toBe('bad_request');
    const codes = Array.from({ length: TRANSFER_REPORT_BURST + 10 }, () => tunnel.report(report(9))?.code);
    expect(codes.filter((code) => code === 'rate_limited').length).toBeGreaterThanOrEqual(10);
    expect(files()).toEqual([]);
  });

  test('the member the ticket office granted the relay to is the receiver, once, from the same address only', () => {
    const { recorder, tunnel, open, report, files } = setUp();
    recorder.expectRelay({ accountId: 42, address: '::ffff:198.51.100.23', label: 'alice-files', path: '/f1.bin' });
    const other = open(11, '203.0.113.5');
    other.fromAgent(10);
    tunnel.report(report(11, { bytes: 10, size: 10, path: '/f1.bin' }));
    const mine = open(13);
    mine.fromAgent(10);
    tunnel.report(report(13, { bytes: 10, size: 10, path: '/f1.bin' }));
    const again = open(15);
    again.fromAgent(10);
    tunnel.report(report(15, { bytes: 10, size: 10, path: '/f1.bin' }));
    expect(files().map((f) => [f.receiverId ?? null, f.receiverNetwork ?? null])).toEqual([[null, '203.0.113.0/24'], [42, null], [null, '198.51.100.0/24']]);
  });
});
