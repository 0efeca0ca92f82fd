import http from 'node:http';
import {
  DIRECT_CHECK_PATH,
  DIRECT_CHECK_TIMEOUT_MS,
  isDirectProof,
  type ProbeFailure,
} from '../../protocol/index.js';

/** Largest check answer read: a hex HMAC and some slack. */
const MAX_PROOF_BYTES = 1024;

/*
 * The edge's reachability probe, from outside: used for direct-mode http routes
 * (DirectChecks), sharers' transfer ports and receivers' listeners (server/transfers/).
 * Whoever answers must give the HMAC of a fresh nonce under a key only the peer holds.
 */
/** Asks `address:port` for the proof of `nonce`; null when it gave the right one. */
export function probeProof(address: string, port: number, nonce: string, key: string): Promise<ProbeFailure | null> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: ProbeFailure | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(result);
    };
    const req = http.get({ host: address, port, path: `${DIRECT_CHECK_PATH}${nonce}`, agent: false, headers: { connection: 'close' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        done('wrong answer');
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (body.length > MAX_PROOF_BYTES) done('wrong answer');
      });
      res.on('end', () => done(isDirectProof(key, nonce, body) ? null : 'wrong answer'));
      res.on('error', () => done('wrong answer'));
    });
    // Whatever answers may be no HTTP server at all: anything but the proof is a wrong answer.
    req.on('error', (error: NodeJS.ErrnoException) => {
      done(error.code === 'ECONNREFUSED' ? 'refused'
        : error.code === 'ETIMEDOUT' ? 'timeout'
          : error.code === 'EHOSTUNREACH' || error.code === 'ENETUNREACH' ? 'unreachable' : 'wrong answer');
    });
    const timer = setTimeout(() => done('timeout'), DIRECT_CHECK_TIMEOUT_MS);
  });
}
