import fs from 'node:fs/promises';
import path from 'node:path';

/** What decides which files of the folder a visitor may reach. */
export interface SharePolicy {
  /** Real path of the shared folder (symlinks in it resolved once at start). */
  readonly root: string;
  readonly showHidden: boolean;
  readonly followSymlinks: boolean;
}

/** A request path refused before the file system was asked anything. */
export interface PathRefusal {
  readonly status: 400 | 404;
  readonly reason: string;
}

const ENCODED_SEPARATOR_OR_NUL = /%(?:2f|5c|00)/i;
/**
 * A percent-escape left after decoding means the client encoded twice or more (`%252e`,
 * `%25252e`): some layer somewhere would decode again, so it is refused. The cost is that a
 * file literally named like `50%2e` cannot be shared by URL.
 */
const LEFTOVER_ESCAPE = /%[0-9a-f]{2}/i;
// Control characters (C0, DEL) have no place in a name a person shared.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/**
 * Turns the path of a request URL (`/docs/%ED%95%9C.txt`, query already cut off) into the
 * decoded segments of a share path, or refuses it. Refusal comes before any file-system call
 * and is deliberately stricter than a file system would be: `..` and `.` in any encoding,
 * backslashes (a separator on a Windows agent), NUL and control characters, encoded slashes,
 * malformed or overlong UTF-8, and empty segments (`//etc`) are all a 400. A hidden segment
 * (a dotfile) is a 404 unless hidden files are shown, so its existence is not revealed.
 */
export function parseSharePath(rawPath: string, showHidden: boolean): string[] | PathRefusal {
  if (!rawPath.startsWith('/')) return { status: 400, reason: 'the path must start with /' };
  const rawSegments = rawPath.slice(1).split('/');
  // A trailing slash (a folder) leaves one empty last segment; that one is allowed.
  if (rawSegments.at(-1) === '') rawSegments.pop();
  const segments: string[] = [];
  for (const raw of rawSegments) {
    if (raw === '') return { status: 400, reason: 'empty path segment' };
    if (raw.includes('\\') || ENCODED_SEPARATOR_OR_NUL.test(raw)) return { status: 400, reason: 'separator or NUL in a path segment' };
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return { status: 400, reason: 'malformed percent-encoding' };
    }
    if (segment === '.' || segment === '..') return { status: 400, reason: 'dot segment' };
    if (segment.includes('/') || segment.includes('\\') || CONTROL_CHARACTER.test(segment)) return { status: 400, reason: 'separator or control character in a path segment' };
    if (LEFTOVER_ESCAPE.test(segment)) return { status: 400, reason: 'double percent-encoding' };
    if (!showHidden && segment.startsWith('.')) return { status: 404, reason: 'hidden' };
    if (process.platform === 'win32' && !isWindowsSafeName(segment)) return { status: 400, reason: 'name not allowed on Windows' };
    segments.push(segment);
  }
  return segments;
}

/** True for a name a visitor may give a new file or folder (uploads, WebDAV). */
export function isAcceptableName(name: string, showHidden: boolean, platform: NodeJS.Platform = process.platform): boolean {
  if (name === '' || name === '.' || name === '..' || name.length > 255) return false;
  if (name.includes('/') || name.includes('\\') || CONTROL_CHARACTER.test(name)) return false;
  if (!showHidden && name.startsWith('.')) return false;
  if (platform === 'win32' && !isWindowsSafeName(name)) return false;
  return Buffer.byteLength(name) <= 255;
}

const WINDOWS_RESERVED = /^(?:con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(?:\.|$)/i;

/**
 * On a Windows agent a name must not reach the file system's special meanings: `:` opens an
 * alternate data stream (`report.txt:hidden`), device names (`CON`, `NUL.txt`) are not files,
 * and trailing dots or spaces are silently dropped (two names, one file).
 */
export function isWindowsSafeName(name: string): boolean {
  return !/[<>:"|?*]/.test(name) && !WINDOWS_RESERVED.test(name) && !/[. ]$/.test(name);
}

/** True when `candidate` is `root` or inside it (both absolute and normalized). */
export function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/**
 * Whether a visitor may reach what a path resolves to (its real path, links followed): inside
 * the share unless following links out was asked for, and never into a hidden place through a
 * visible link (`docs -> .git`) unless hidden files are shown.
 */
export function mayReach(policy: SharePolicy, real: string): boolean {
  if (!isInside(policy.root, real)) return policy.followSymlinks;
  return policy.showHidden || !path.relative(policy.root, real).split(path.sep).some((part) => part.startsWith('.'));
}

/** Where a share path lives on disk, once the symlink policy allowed it. */
export interface ResolvedPath {
  /** Absolute path inside the share (as requested, symlinks not resolved). */
  readonly absolute: string;
  /** The real path (symlinks resolved): what is opened. */
  readonly real: string;
  readonly stats: import('node:fs').Stats;
}

/**
 * Finds an existing share path on disk. Null when it does not exist or when a symlink on the
 * way leads outside the share and following them was not asked for (both look the same to a
 * visitor: a 404).
 */
export async function resolveExisting(policy: SharePolicy, segments: string[]): Promise<ResolvedPath | null> {
  const absolute = path.join(policy.root, ...segments);
  if (!isInside(policy.root, absolute)) return null;
  let real: string;
  try {
    real = await fs.realpath(absolute);
  } catch {
    return null;
  }
  if (!mayReach(policy, real)) return null;
  try {
    return { absolute, real, stats: await fs.stat(real) };
  } catch {
    return null;
  }
}

/** An existing folder of the share that may be written into (uploads): inside the share by its real path. */
export async function resolveFolderForWrite(policy: SharePolicy, segments: string[]): Promise<string | null> {
  const folder = await resolveExisting(policy, segments);
  // Writes never go through a symlink that leaves the share, even when reads may follow one.
  return folder && folder.stats.isDirectory() && isInside(policy.root, folder.real) ? folder.real : null;
}

/**
 * Finds the folder a new entry named `name` would be created in (uploads, WebDAV writes):
 * the parent must exist, be a folder, and be inside the share by its real path.
 */
export async function resolveParentForWrite(policy: SharePolicy, segments: string[]): Promise<{ folder: string; target: string } | null> {
  if (segments.length === 0) return null;
  const folder = await resolveFolderForWrite(policy, segments.slice(0, -1));
  return folder === null ? null : { folder, target: path.join(folder, segments.at(-1)!) };
}
