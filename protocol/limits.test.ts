import os from 'node:os';
import { describe, expect, test } from 'vitest';
import {
  DEFAULT_VISITOR_STREAMS_PER_NETWORK,
  DEFAULT_VISITOR_STREAMS_PER_TUNNEL,
  MAX_STREAMS_PER_TUNNEL,
  MIN_STREAMS_PER_TUNNEL,
  STREAMS_PER_TUNNEL,
  STREAM_MEMORY_BYTES,
  TUNNEL_MEMORY_SHARE,
  machineMemoryBytes,
  streamsForMemory,
  visitorStreamsPerNetwork,
} from './limits.js';

const GiB = 1024 * 1024 * 1024;

describe('stream limits from memory', () => {
  test('a tunnel gets an eighth of the memory in 32 KiB streams, within 1000 … 65,536', () => {
    expect(STREAM_MEMORY_BYTES).toBe(32 * 1024);
    expect(TUNNEL_MEMORY_SHARE).toBe(1 / 8);
    expect(streamsForMemory(1 * GiB)).toBe(4096);
    expect(streamsForMemory(4 * GiB)).toBe(16_384);
    expect(streamsForMemory(10 * GiB)).toBe(40_960);
    expect(streamsForMemory(16 * GiB)).toBe(MAX_STREAMS_PER_TUNNEL);
    expect(streamsForMemory(1024 * GiB)).toBe(MAX_STREAMS_PER_TUNNEL);
    // A small machine keeps the old fixed limit rather than starving its visitors.
    expect(streamsForMemory(128 * 1024 * 1024)).toBe(MIN_STREAMS_PER_TUNNEL);
    expect(streamsForMemory(0)).toBe(MIN_STREAMS_PER_TUNNEL);
    expect(streamsForMemory(Number.NaN)).toBe(MIN_STREAMS_PER_TUNNEL);
  });

  test('one network may hold a quarter of a tunnel\'s visitor streams, at least one', () => {
    expect(visitorStreamsPerNetwork(999)).toBe(249);
    expect(visitorStreamsPerNetwork(16_383)).toBe(4095);
    expect(visitorStreamsPerNetwork(3)).toBe(1);
    expect(visitorStreamsPerNetwork(1)).toBe(1);
  });

  test('this machine\'s defaults come from its memory (or its container\'s limit), less the control stream', () => {
    expect(machineMemoryBytes()).toBeGreaterThan(0);
    expect(machineMemoryBytes()).toBeLessThanOrEqual(os.totalmem());
    expect(STREAMS_PER_TUNNEL).toBe(streamsForMemory(machineMemoryBytes()));
    expect(DEFAULT_VISITOR_STREAMS_PER_TUNNEL).toBe(STREAMS_PER_TUNNEL - 1);
    expect(DEFAULT_VISITOR_STREAMS_PER_NETWORK).toBe(visitorStreamsPerNetwork(DEFAULT_VISITOR_STREAMS_PER_TUNNEL));
  });
});
