import type http from 'node:http';
import { pipeline } from 'node:stream/promises';
import { sealedSize, sealedStream } from '../../protocol/sealed-file.js';
import type { OfferedSale } from './sale-desk.js';

/**
 * Answers `GET <path>?sale=<id>`: the file sealed for that sale (protocol/sealed-file.ts),
 * produced on the fly from the plaintext with the sale's key, as a download manager expects
 * a file: Content-Length (the sealed size), a single Range (206, or 416), ETag = the cipher
 * root (the same bytes whatever path or restart serves them), If-Range. Resolves once the
 * answer is sent or the visitor has gone.
 */
export async function sendSealedFile(req: http.IncomingMessage, res: http.ServerResponse, sale: OfferedSale): Promise<void> {
  const total = sealedSize(sale.size);
  const etag = `"${sale.cipherRoot}"`;
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/octet-stream',
    'Accept-Ranges': 'bytes',
    ETag: etag,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers).end();
    return;
  }
  const ifRange = req.headers['if-range'];
  const rangeHeader = ifRange === undefined || ifRange === etag ? req.headers.range : undefined;
  const range = rangeHeader === undefined ? null : parseRange(rangeHeader, total);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${total}`, 'Content-Length': 0 }).end();
    return;
  }
  const wanted = range ?? (total === 0 ? null : { start: 0, end: total - 1 });
  if (range !== null) {
    res.writeHead(206, { ...headers, 'Content-Range': `bytes ${range.start}-${range.end}/${total}`, 'Content-Length': range.end - range.start + 1 });
  } else {
    res.writeHead(200, { ...headers, 'Content-Length': total });
  }
  if (req.method === 'HEAD' || wanted === null) {
    res.end();
    return;
  }
  const body = sealedStream(sale.real, sale.key, sale.saleId, sale.size, wanted);
  try {
    await pipeline(body, res);
  } catch {
    // The visitor went away, or the file could not be read mid-way: the head is out, so
    // breaking the connection is all that is left (the buyer's chunk check resumes later).
    res.destroy();
  }
}

/** Answers `GET <path>?sale=<id>&manifest=1`: every chunk's cipher and plain leaf (encodeManifest). */
export function sendManifest(req: http.IncomingMessage, res: http.ServerResponse, sale: OfferedSale): void {
  res.writeHead(200, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': sale.manifest.length,
    ETag: `"${sale.cipherRoot}"`,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : sale.manifest);
}

/**
 * One `bytes=` range of a body of `total` bytes (RFC 9110 §14.1.2): null to send it whole
 * (no range, several ranges, or a form it does not understand), 'unsatisfiable' past its end.
 */
export function parseRange(header: string, total: number): { start: number; end: number } | null | 'unsatisfiable' {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return null;
  const [, first, last] = match;
  if (first === '' && last === '') return null;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    return total === 0 ? 'unsatisfiable' : { start: Math.max(0, total - suffix), end: total - 1 };
  }
  const start = Number(first);
  const end = last === '' ? total - 1 : Math.min(Number(last), total - 1);
  if (!Number.isSafeInteger(start) || start >= total) return 'unsatisfiable';
  if (end < start) return null;
  return { start, end };
}
