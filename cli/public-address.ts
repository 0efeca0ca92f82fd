import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { EdgeTarget } from './client-config.js';

/**
 * This machine's public address as the edge sees it, over one address family: null when the
 * edge cannot be reached over that family (no IPv6 route, say) or answers nonsense.
 */
export function publicAddress(edge: EdgeTarget, family: 4 | 6, timeoutMs = 10_000): Promise<string | null> {
  return new Promise((resolve) => {
    const url = new URL('/api/v1/address', edge.server);
    const client = url.protocol === 'https:' ? https : http;
    const tls = url.protocol === 'https:' ? { ca: edge.trust.ca, rejectUnauthorized: !edge.trust.insecure } : {};
    const req = client.get(url, { family, agent: false, headers: { authorization: `Bearer ${edge.token}` }, timeout: timeoutMs, ...tls }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { if (body.length < 4096) body += chunk; });
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve(null);
        try {
          const { address } = JSON.parse(body) as { address?: unknown };
          resolve(typeof address === 'string' && isIP(address) === family ? address : null);
        } catch {
          resolve(null);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}
