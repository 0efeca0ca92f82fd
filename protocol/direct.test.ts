import { describe, expect, test } from 'vitest';
import { directProof, isDirectProof } from './direct.js';
import { AgentMessage, EdgeMessage } from './messages.js';

const key = 'ab'.repeat(32);

describe('direct mode wire', () => {
  test('the proof is the HMAC of the nonce under the key; anything else is refused', () => {
    const proof = directProof(key, 'n0nce');
    expect(proof).toMatch(/^[0-9a-f]{64}$/);
    expect(isDirectProof(key, 'n0nce', `${proof}\n`)).toBe(true);
    expect(isDirectProof(key, 'other', proof)).toBe(false);
    expect(isDirectProof('cd'.repeat(32), 'n0nce', proof)).toBe(false);
    expect(isDirectProof(key, 'n0nce', 'not the agent')).toBe(false);
  });

  test('offerDirect and directChecked parse; a malformed key or a stray field does not', () => {
    expect(AgentMessage.safeParse({ type: 'offerDirect', routeId: 'r', port: 8081, key }).success).toBe(true);
    expect(AgentMessage.safeParse({ type: 'offerDirect', routeId: 'r', port: 8081, key: 'short' }).success).toBe(false);
    expect(EdgeMessage.safeParse({ type: 'directChecked', routeId: 'r', reachable: false, address: '198.51.100.4', port: 8081, reason: 'timeout' }).success).toBe(true);
    expect(EdgeMessage.safeParse({ type: 'directChecked', routeId: 'r', reachable: true, address: '198.51.100.4', port: 8081, extra: 1 }).success).toBe(false);
  });
});
