import { FrameType, smallFrame } from '../../protocol/frame-mux/frame-codec.js';
import type { SeededRandom } from './seeded-random.js';

/** Payload sizes of the frame types that have a fixed one. */
const FIXED_PAYLOAD: Record<number, number> = { 1: 8, 5: 0, 6: 4, 7: 4, 8: 8, 9: 8, 10: 8 };

/**
 * One random frame-mux frame for fuzzing a peer: mostly well-formed enough to get past the
 * header check (known types, plausible stream ids and sizes), sometimes not at all.
 */
export function randomFrame(random: SeededRandom): Buffer {
  const type = random.chance(0.05) ? random.int(0, 255) : random.int(1, 10);
  const streamId = random.pick([0, 1, 1, 2, 3, 5, random.int(0, 2 ** 32 - 1)]);
  let payload: Buffer;
  if (type === FrameType.OPEN || type === FrameType.RESPONSE) {
    payload = random.chance(0.5)
      ? Buffer.from(JSON.stringify(random.chance(0.5) ? { ':status': random.int(0, 999) } : { ':method': 'CONNECT', ':authority': 'visitor.udns', 'udns-route': 'x' }))
      : random.bytes(random.int(0, 64));
  } else if (type in FIXED_PAYLOAD && random.chance(0.85)) {
    payload = random.chance(0.5) ? Buffer.alloc(FIXED_PAYLOAD[type]!) : random.bytes(FIXED_PAYLOAD[type]!);
  } else {
    payload = random.bytes(random.int(0, 2048));
  }
  const frame = smallFrame(type as FrameType, streamId, payload);
  if (random.chance(0.05)) frame.writeUInt32BE(random.int(0, 2 ** 32 - 1), 0);
  return frame;
}
