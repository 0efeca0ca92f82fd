import { createHmac, timingSafeEqual } from 'node:crypto';

/*
 * Direct mode: an http route whose agent also listens for visitors itself. The edge checks
 * that whoever answers on `<observed agent address>:<port>` is this agent before its DNS
 * points the name there: it asks `GET <DIRECT_CHECK_PATH><nonce>` and expects the HMAC of the
 * nonce keyed by the secret the agent sent on the tunnel's control channel (`offerDirect`).
 */

/** Path prefix of the edge's reachability check; the nonce follows it. */
export const DIRECT_CHECK_PATH = '/.well-known/udns-direct/';
/** How long the edge waits for the whole check answer before calling the route unreachable. */
export const DIRECT_CHECK_TIMEOUT_MS = 3000;
/** How often the edge checks every direct route again (a home router may close its port). */
export const DIRECT_RECHECK_INTERVAL_MS = 60_000;
/** Bytes of the per-tunnel direct-check secret (hex on the wire). */
export const DIRECT_KEY_BYTES = 32;

/** The answer to a check: hex HMAC-SHA256 of the nonce under the tunnel's direct key (hex). */
export function directProof(keyHex: string, nonce: string): string {
  return createHmac('sha256', Buffer.from(keyHex, 'hex')).update(nonce).digest('hex');
}

/** True when `answer` is the proof for `nonce` under `keyHex` (constant time). */
export function isDirectProof(keyHex: string, nonce: string, answer: string): boolean {
  const expected = Buffer.from(directProof(keyHex, nonce));
  const given = Buffer.from(answer.trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}
