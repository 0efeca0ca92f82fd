import contentDisposition from 'content-disposition';

/** Longest file name most file systems take, in bytes of UTF-8. */
const MAX_NAME_BYTES = 255;

/**
 * Why `name` cannot be used as one file name inside the output folder, or null when it can.
 * A share (or a URL) must never make `udns get` write outside the folder it was pointed at:
 * separators, `.`/`..`, NUL and other control characters are refused, not repaired.
 */
export function unsafeNameReason(name: string): string | null {
  if (name === '') return 'it is empty';
  if (name === '.' || name === '..') return `"${name}" names a folder, not a file`;
  if (/[/\\]/.test(name)) return 'it contains a path separator';
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'it contains a control character';
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) return `it is longer than ${MAX_NAME_BYTES} bytes`;
  return null;
}

/**
 * The file name a `Content-Disposition` header suggests (`filename*` in RFC 5987 UTF-8 first,
 * then `filename`), or undefined when there is none or the header cannot be parsed.
 */
export function dispositionName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  try {
    const name = contentDisposition.parse(header).parameters.filename;
    return name === undefined || name === '' ? undefined : name;
  } catch {
    return undefined;
  }
}

/** The last non-empty segment of a URL's path, percent-decoded; undefined for the root. */
export function urlName(url: URL): string | undefined {
  const segment = url.pathname.split('/').filter((part) => part !== '').at(-1);
  if (segment === undefined) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The name to save a download under: the server's suggestion, else the URL's last segment. */
export function suggestedName(url: URL, disposition: string | undefined): string | undefined {
  return dispositionName(disposition) ?? urlName(url);
}

/** A folder URL's name for `<folder>.zip` or `<folder>/`: its last segment, else the share's host label. */
export function folderName(url: URL): string {
  return urlName(url) ?? url.hostname.split('.')[0] ?? 'share';
}
