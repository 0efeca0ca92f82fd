import { describe, expect, test } from 'vitest';
import { DIRECT_CHECK_PATH, directCheckAnswer, directCheckNonce, directProof, isDirectProof } from './direct.js';
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

  test('the check is recognised only in the shape the edge sends it; the answer carries the proof, or 503 without a key', () => {
    expect(directCheckNonce(Buffer.from(`GET ${DIRECT_CHECK_PATH}0badc0de HTTP/1.1\r\nHost: x\r\n\r\n`))).toBe('0badc0de');
    expect(directCheckNonce(Buffer.from(`GET ${DIRECT_CHECK_PATH}0badc0de HTTP/1.0\r\n`))).toBe('0badc0de');
    expect(directCheckNonce(Buffer.from(`GET ${DIRECT_CHECK_PATH}NOTHEX HTTP/1.1\r\n`))).toBeNull();
    expect(directCheckNonce(Buffer.from(`POST ${DIRECT_CHECK_PATH}0badc0de HTTP/1.1\r\n`))).toBeNull();
    expect(directCheckNonce(Buffer.from('GET /.well-known/udns-directX0badc0de HTTP/1.1\r\n'))).toBeNull();
    expect(directCheckNonce(Buffer.from([0x16, 0x03, 0x01]))).toBeNull();
    const answer = directCheckAnswer(key, 'n0nce');
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answer.endsWith(`\r\n\r\n${directProof(key, 'n0nce')}`)).toBe(true);
    expect(answer).toContain('Content-Length: 64\r\n');
    expect(directCheckAnswer(null, 'n0nce')).toMatch(/^HTTP\/1\.1 503 /);
  });

  test('offerDirect and directChecked parse; a malformed key or a stray field does not', () => {
    expect(AgentMessage.safeParse({ type: 'offerDirect', routeId: 'r', port: 8081, key }).success).toBe(true);
    expect(AgentMessage.safeParse({ type: 'offerDirect', routeId: 'r', port: 8081, key: 'short' }).success).toBe(false);
    expect(EdgeMessage.safeParse({ type: 'directChecked', routeId: 'r', reachable: false, address: '198.51.100.4', port: 8081, reason: 'timeout' }).success).toBe(true);
    expect(EdgeMessage.safeParse({ type: 'directChecked', routeId: 'r', reachable: true, address: '198.51.100.4', port: 8081, extra: 1 }).success).toBe(false);
  });
});
