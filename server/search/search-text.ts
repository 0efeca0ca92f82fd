import path from 'node:path';
import type { MediaKind } from './search-index.js';

/*
 * How file names become searchable text. The database tokenizers cannot be trusted with
 * Korean, Japanese or Chinese: FTS5's trigram tokenizer needs three characters, unicode61
 * keeps a whole Hangul run as one word, and pg_trgm in a C-locale cluster drops every
 * non-ASCII character. So the edge computes the terms itself, the same way for both
 * databases: text is NFKC-normalised and lowercased, cut into words (letters, digits, marks),
 * and each word gives its character bigrams plus its last character. A query word of two or
 * more characters needs all of its bigrams (a covering subset); a one-character word is a
 * prefix query on the terms. The database then checks the real substring on the normalised
 * name and folder, so the bigrams only narrow the candidates and recall is exact.
 */

const WORD = /[\p{L}\p{N}\p{M}]+/gu;

/** NFKC, lowercase, words joined by one space: the form names, folders and queries are compared in. */
export function searchKey(text: string): string {
  const folded = text.normalize('NFKC').toLowerCase().normalize('NFKC');
  return (folded.match(WORD) ?? []).join(' ');
}

/** The terms the full-text index holds for a key (see above), space-separated, without repeats. */
export function indexTerms(...keys: string[]): string {
  const terms = new Set<string>();
  for (const key of keys) {
    for (const word of key.split(' ')) {
      const chars = Array.from(word);
      if (chars.length === 0) continue;
      for (let i = 0; i + 1 < chars.length; i++) terms.add(chars[i]! + chars[i + 1]!);
      terms.add(chars[chars.length - 1]!);
    }
  }
  return [...terms].join(' ');
}

/** One query word's terms: `all` must be present; `prefix` is a one-character word matched as a term prefix. */
export interface QueryTerms {
  readonly all: string[];
  readonly prefixes: string[];
}

/** The terms a normalised query word (a searchKey) needs in the index. */
export function queryTerms(key: string): QueryTerms {
  const all = new Set<string>();
  const prefixes = new Set<string>();
  for (const word of key.split(' ')) {
    const chars = Array.from(word);
    if (chars.length === 0) continue;
    if (chars.length === 1) {
      prefixes.add(chars[0]!);
      continue;
    }
    // Bigrams at even offsets plus the last one cover every character; the rest add nothing
    // that the substring check does not verify anyway, and each term costs a posting list.
    for (let i = 0; i + 1 < chars.length; i += 2) all.add(chars[i]! + chars[i + 1]!);
    all.add(chars[chars.length - 2]! + chars[chars.length - 1]!);
  }
  return { all: [...all], prefixes: [...prefixes] };
}

/** The file name and its folder (`/` for the share's root) of a share path. */
export function splitSharePath(sharePath: string): { name: string; folder: string } {
  return { name: path.posix.basename(sharePath), folder: path.posix.dirname(sharePath) };
}

const ARCHIVE_TYPES = new Set([
  'application/zip', 'application/x-zip-compressed', 'application/x-tar', 'application/gzip', 'application/x-gzip',
  'application/x-7z-compressed', 'application/x-rar-compressed', 'application/vnd.rar', 'application/x-bzip2',
  'application/x-xz', 'application/zstd', 'application/x-iso9660-image', 'application/x-apple-diskimage',
]);
const DOCUMENT_TYPES = new Set([
  'application/msword', 'application/rtf', 'application/vnd.oasis.opendocument.text', 'application/epub+zip',
  'application/x-hwp', 'application/haansofthwp', 'application/vnd.hancom.hwp', 'application/vnd.hancom.hwpx',
  'application/x-hwpx', 'application/vnd.apple.pages',
]);
const SPREADSHEET_TYPES = new Set(['application/vnd.ms-excel', 'application/vnd.oasis.opendocument.spreadsheet', 'text/csv', 'application/vnd.apple.numbers']);
const PRESENTATION_TYPES = new Set(['application/vnd.ms-powerpoint', 'application/vnd.oasis.opendocument.presentation', 'application/vnd.apple.keynote']);
const CODE_TYPES = new Set([
  'application/javascript', 'text/javascript', 'application/json', 'application/xml', 'text/xml', 'text/html', 'text/css',
  'application/x-sh', 'application/x-httpd-php', 'application/typescript', 'application/yaml', 'text/yaml', 'application/sql',
]);
const EXTENSION_KINDS: Record<string, MediaKind> = {
  hwp: 'document', hwpx: 'document', doc: 'document', docx: 'document', odt: 'document', pages: 'document',
  xls: 'spreadsheet', xlsx: 'spreadsheet', ods: 'spreadsheet', csv: 'spreadsheet',
  ppt: 'presentation', pptx: 'presentation', odp: 'presentation', key: 'presentation',
  pdf: 'pdf', zip: 'archive', rar: 'archive', '7z': 'archive', tgz: 'archive', gz: 'archive',
};

/** The `--type` family of a file, from its media type, or its extension when the type says nothing. */
export function mediaKind(type: string, sharePath: string): MediaKind {
  const [top = '', sub = ''] = type.split('/');
  if (type === 'application/pdf') return 'pdf';
  if (top === 'image' || top === 'video' || top === 'audio') return top;
  if (ARCHIVE_TYPES.has(type)) return 'archive';
  if (DOCUMENT_TYPES.has(type) || sub.startsWith('vnd.openxmlformats-officedocument.wordprocessingml')) return 'document';
  if (SPREADSHEET_TYPES.has(type) || sub.startsWith('vnd.openxmlformats-officedocument.spreadsheetml')) return 'spreadsheet';
  if (PRESENTATION_TYPES.has(type) || sub.startsWith('vnd.openxmlformats-officedocument.presentationml')) return 'presentation';
  if (CODE_TYPES.has(type) || (top === 'text' && sub.startsWith('x-'))) return 'code';
  if (top === 'text') return 'text';
  const extension = path.posix.extname(sharePath).slice(1).toLowerCase();
  return EXTENSION_KINDS[extension] ?? 'other';
}
