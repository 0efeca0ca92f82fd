import fs from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import { isAcceptableName, isInside, parseSharePath, resolveExisting, type SharePolicy } from '../share-paths.js';

/** A WebDAV request answered before nephele runs. */
export interface DavRefusal {
  readonly status: number;
  /** One line of plain text for the visitor. */
  readonly message: string;
  /** An RFC 4918 precondition element (`propfind-finite-depth`), sent as a DAV:error body. */
  readonly precondition?: string;
}

/** Methods that never change the folder: all a read-only share answers. */
export const DAV_READ_METHODS = new Set(['OPTIONS', 'PROPFIND', 'LOCK', 'UNLOCK']);
/**
 * Largest XML body (PROPFIND, PROPPATCH, LOCK) nephele is given: it buffers bodies whole and
 * parses them into objects several times their size. Clients send a few hundred bytes; PUT
 * bodies never come here (ShareServer streams them to disk).
 */
export const MAX_DAV_BODY_BYTES = 64 * 1024;

const READ_ONLY: DavRefusal = { status: 403, message: 'This share is read-only; its owner can allow changes with --allow-upload.' };
const NOT_FOUND: DavRefusal = { status: 404, message: 'Nothing is shared at this address.' };

/**
 * Decides whether a WebDAV request may reach nephele, with the share's rules: read-only
 * unless uploads are allowed, paths that exist where they must (a LOCK on a missing name
 * would create a file), writes only into folders inside the share by their real path,
 * a Destination held to the same rules as a request path (and rewritten to its canonical
 * form, so nephele acts on exactly what was checked), `Overwrite: F` enforced, and no
 * `Depth: infinity` PROPFIND (RFC 4918 §9.1 allows refusing it; a walk of the whole tree
 * could be huge, or endless through symlink loops) nor LOCK of a folder (the same walk, to
 * check every lock below; clients lock files, with Depth 0). Null means admitted.
 */
export async function admitDavRequest(req: http.IncomingMessage, segments: string[], policy: SharePolicy, allowUpload: boolean): Promise<DavRefusal | null> {
  const method = req.method ?? '';
  const encoding = (req.headers['content-encoding'] || 'identity').trim().toLowerCase();
  // nephele's decompression pipelines throw from a callback on a corrupt body: never let one run.
  if (encoding !== 'identity') return { status: 415, message: 'Request bodies must not be compressed.' };
  const declaredLength = Number(req.headers['content-length'] ?? 0);
  if (declaredLength > MAX_DAV_BODY_BYTES) return { status: 413, message: 'The request body is too large.' };
  if (!allowUpload && !DAV_READ_METHODS.has(method)) return READ_ONLY;

  switch (method) {
    case 'OPTIONS':
      return null;
    case 'PROPFIND': {
      const depth = req.headers.depth ?? 'infinity';
      if (depth === 'infinity') return { status: 403, message: 'PROPFIND with Depth: infinity is not supported; use Depth: 1.', precondition: 'propfind-finite-depth' };
      if (depth !== '0' && depth !== '1') return { status: 400, message: 'Depth must be 0, 1 or infinity.' };
      return (await resolveExisting(policy, segments)) ? null : NOT_FOUND;
    }
    case 'UNLOCK':
    case 'PROPPATCH':
      return (await resolveExisting(policy, segments)) ? null : NOT_FOUND;
    case 'LOCK': {
      const existing = await resolveExisting(policy, segments);
      // A refresh has no body and takes no Depth; only a new lock of a whole tree is refused.
      if (existing?.stats.isDirectory() && (req.headers.depth ?? 'infinity') === 'infinity' && hasBody(req)) {
        return { status: 403, message: 'LOCK of a folder with Depth: infinity is not supported; lock the files, or the folder with Depth: 0.' };
      }
      if (existing) return null;
      if (await entryExists(policy, segments)) return NOT_FOUND;
      // RFC 4918 §7.3: a LOCK on an unmapped URL creates an empty file. Only where PUT could.
      if (!allowUpload) return READ_ONLY;
      return writableFolder(policy, segments);
    }
    case 'MKCOL':
      if (await entryExists(policy, segments)) return null;
      return writableFolder(policy, segments);
    case 'DELETE':
      if (segments.length === 0) return { status: 403, message: 'The shared folder itself cannot be deleted.' };
      if (!(await resolveExisting(policy, segments))) return NOT_FOUND;
      return writableFolder(policy, segments);
    case 'COPY':
    case 'MOVE':
      return admitCopyOrMove(req, segments, policy);
    default:
      return { status: 405, message: `${method} is not supported by this share.` };
  }
}

async function admitCopyOrMove(req: http.IncomingMessage, segments: string[], policy: SharePolicy): Promise<DavRefusal | null> {
  if (!(await resolveExisting(policy, segments))) return NOT_FOUND;
  if (req.method === 'MOVE') {
    if (segments.length === 0) return { status: 403, message: 'The shared folder itself cannot be moved.' };
    const source = await writableFolder(policy, segments);
    if (source) return source;
  }
  const overwrite = singleHeader(req, 'overwrite')?.trim().toUpperCase();
  if (overwrite !== undefined && overwrite !== 'T' && overwrite !== 'F') return { status: 400, message: 'Overwrite must be T or F.' };

  const destination = parseDestination(singleHeader(req, 'destination'), req.headers.host ?? '', policy.showHidden);
  if ('status' in destination) return destination;
  if (destination.segments.length === 0) return { status: 403, message: 'The shared folder itself cannot be replaced.' };
  const folder = await writableFolder(policy, destination.segments);
  if (folder) return folder;
  if (await entryExists(policy, destination.segments)) {
    if (overwrite === 'F') return { status: 412, message: 'The destination exists and Overwrite is F.' };
    // An existing destination is deleted first: never one the visitor cannot see.
    if (!(await resolveExisting(policy, destination.segments))) return { status: 403, message: 'The destination cannot be replaced.' };
  }
  const slash = destination.segments.length > 0 && destination.folder ? '/' : '';
  req.headers.destination = `/${destination.segments.map(encodeURIComponent).join('/')}${slash}`;
  return null;
}

/** A Destination header reduced to share segments, or why it is refused. */
export function parseDestination(header: string | undefined, requestHost: string, showHidden: boolean): { segments: string[]; folder: boolean } | DavRefusal {
  if (header === undefined || header.trim() === '') return { status: 400, message: 'A Destination header is required.' };
  let rawPath: string;
  // Taken apart by hand: `new URL()` would quietly resolve `..` and `%2e%2e` instead of refusing them.
  const absolute = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(header.trim());
  if (absolute) {
    if (hostName(absolute[2]!) !== hostName(requestHost)) return { status: 502, message: 'The destination is on another server.' };
    rawPath = absolute[3] || '/';
  } else if (header.startsWith('/') && !header.startsWith('//')) {
    rawPath = header.trim();
  } else {
    return { status: 400, message: 'The Destination header must be a URL of this share.' };
  }
  rawPath = rawPath.replace(/[?#][\s\S]*$/, '');
  // Node reads headers as latin1: bytes of raw (unencoded) UTF-8 go back to what was sent.
  rawPath = rawPath.replace(/[^\x00-\x7f]+/g, (raw) => [...Buffer.from(raw, 'latin1')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join(''));
  const parsed = parseSharePath(rawPath, showHidden);
  if (!Array.isArray(parsed)) {
    return parsed.status === 404
      ? { status: 403, message: 'The destination name is not allowed (hidden).' }
      : { status: 400, message: `The destination is not allowed (${parsed.reason}).` };
  }
  if (parsed.some((name) => !isAcceptableName(name, showHidden))) return { status: 400, message: 'The destination name is not allowed.' };
  return { segments: parsed, folder: rawPath.endsWith('/') };
}

/** Lower-case host without port or trailing dot (`[::1]:80` → `::1`). */
function hostName(authority: string): string {
  let host = authority.trim().toLowerCase();
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']') === -1 ? undefined : host.indexOf(']'));
  const colon = host.indexOf(':');
  if (colon !== -1) host = host.slice(0, colon);
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

/** Null when an entry named by `segments` may be created, replaced or removed in its folder. */
async function writableFolder(policy: SharePolicy, segments: string[]): Promise<DavRefusal | null> {
  const name = segments.at(-1);
  if (name === undefined || !isAcceptableName(name, policy.showHidden)) return { status: 403, message: 'This name is not allowed.' };
  const folder = segments.slice(0, -1);
  const missing: DavRefusal = { status: 409, message: 'The folder this goes into does not exist.' };
  // Looked for before it is resolved: clients create folders in parallel (rclone), and one
  // made between the two calls must read as missing (409, the client makes it), not as escaping.
  if (!(await entryExists(policy, folder))) return missing;
  const parent = await resolveExisting(policy, folder);
  // Writes never go through a symlink that leaves the share, even when reads may follow one.
  if (!parent || !isInside(policy.root, parent.real)) return { status: 403, message: 'This folder cannot be changed.' };
  return parent.stats.isDirectory() ? null : missing;
}

/** A header that must appear once; a repeated one counts as absent (and is refused where required). */
function singleHeader(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** True when the request carries a body (a new LOCK does; a LOCK refresh does not). */
function hasBody(req: http.IncomingMessage): boolean {
  return Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
}

/** True when something (even a dangling or escaping symlink) has this name on disk. */
async function entryExists(policy: SharePolicy, segments: string[]): Promise<boolean> {
  try {
    await fs.lstat(path.join(policy.root, ...segments));
    return true;
  } catch {
    return false;
  }
}
