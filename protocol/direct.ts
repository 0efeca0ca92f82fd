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

// The edge's check as its HTTP client sends it (reachability-probe.ts): one request line, the
// nonce in hex. Matching only this exact shape keeps everything else off the proof path.
const CHECK_REQUEST = new RegExp(`^GET ${DIRECT_CHECK_PATH.replaceAll('.', '\\.')}([0-9a-f]{1,128}) HTTP/1\\.[01]\\r\\n`);

/**
 * The nonce when a connection's first bytes are the edge's check, null for anything else. The
 * agent's direct and transfer ports and `udns get`'s receive port all answer it.
 */
export function directCheckNonce(firstBytes: Buffer): string | null {
  return CHECK_REQUEST.exec(firstBytes.toString('latin1', 0, Math.min(firstBytes.length, 512)))?.[1] ?? null;
}

/** The whole HTTP answer to a check: the proof under `keyHex`, or 503 while there is no key (no tunnel yet). */
export function directCheckAnswer(keyHex: string | null, nonce: string): string {
  const body = keyHex === null ? 'no tunnel yet\n' : directProof(keyHex, nonce);
  const status = keyHex === null ? '503 Service Unavailable' : '200 OK';
  return `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/** The answer to a check from an address that is not the edge's, or to bytes that are no check. */
export const DIRECT_CHECK_REFUSED = 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
