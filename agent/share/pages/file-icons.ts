/**
 * Icons for the share pages as one inline SVG sprite (`<symbol>`s referenced with `<use>`).
 * SVG rather than emoji: headless Chromium and many Linux desktops have no emoji font.
 */

/** What a listing row's icon shows. */
export type FileKind = 'folder' | 'image' | 'video' | 'audio' | 'text' | 'pdf' | 'archive' | 'file';

/** Other pictures the pages use. */
export type UiIcon = 'download' | 'upload' | 'parent' | 'sort' | 'lock' | 'logout' | 'clock';

const EXTENSIONS: Record<Exclude<FileKind, 'folder' | 'file'>, string[]> = {
  image: ['png', 'jpg', 'jpeg', 'gif', 'webp', 'avif', 'svg', 'bmp', 'ico', 'tif', 'tiff', 'heic', 'heif'],
  video: ['mp4', 'm4v', 'webm', 'mkv', 'mov', 'avi', 'wmv', 'mpg', 'mpeg', 'ogv', '3gp'],
  audio: ['mp3', 'm4a', 'aac', 'wav', 'flac', 'ogg', 'oga', 'opus', 'wma', 'aiff', 'mid', 'midi'],
  text: [
    'txt', 'md', 'markdown', 'rst', 'log', 'csv', 'tsv', 'json', 'yaml', 'yml', 'toml', 'ini', 'conf', 'cfg', 'xml',
    'html', 'htm', 'css', 'js', 'mjs', 'cjs', 'ts', 'tsx', 'jsx', 'py', 'rb', 'go', 'rs', 'java', 'kt', 'c', 'h',
    'cc', 'cpp', 'hpp', 'cs', 'php', 'sh', 'bash', 'zsh', 'ps1', 'bat', 'sql', 'swift', 'lua', 'pl', 'r', 'tex', 'srt', 'vtt',
  ],
  pdf: ['pdf'],
  archive: ['zip', 'tar', 'gz', 'tgz', 'bz2', 'tbz2', 'xz', 'txz', 'zst', '7z', 'rar', 'iso', 'dmg', 'jar', 'apk', 'deb', 'rpm'],
};
const KIND_BY_EXTENSION = new Map<string, FileKind>(
  Object.entries(EXTENSIONS).flatMap(([kind, extensions]) => extensions.map((extension) => [extension, kind as FileKind] as const)),
);

/** The icon for a listing entry, chosen by type and then by file extension. */
export function fileKind(name: string, type: 'file' | 'dir'): FileKind {
  if (type === 'dir') return 'folder';
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return 'file';
  return KIND_BY_EXTENSION.get(name.slice(dot + 1).toLowerCase()) ?? 'file';
}

/** A sheet of paper with a folded corner, tinted by `currentColor`; file kinds draw on it. */
const PAPER = '<path d="M6.5 2.75h7.25L19 8v12.25a1 1 0 0 1-1 1H6.5a1 1 0 0 1-1-1V3.75a1 1 0 0 1 1-1z" fill="currentColor" fill-opacity=".1" stroke="currentColor" stroke-width="1.5" stroke-linejoin="round"/><path d="M13.75 2.75V8H19" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linejoin="round"/>';
const STROKE = 'fill="none" stroke="currentColor" stroke-width="1.75" stroke-linecap="round" stroke-linejoin="round"';

const SYMBOLS: Record<FileKind | UiIcon, string> = {
  folder: '<path d="M2.75 6.25c0-.97.78-1.75 1.75-1.75h4.6c.45 0 .88.17 1.2.48l1.55 1.52h7.65c.97 0 1.75.78 1.75 1.75v10c0 .97-.78 1.75-1.75 1.75H4.5c-.97 0-1.75-.78-1.75-1.75z" fill="currentColor"/><path d="M2.75 9.25h18.5" stroke="#fff" stroke-opacity=".45" stroke-width="1.25"/>',
  image: `${PAPER}<circle cx="10" cy="12" r="1.4" fill="currentColor"/><path d="M8 18.5l2.75-3.25 1.75 1.75 1.75-2.25 2.75 3.75z" fill="currentColor"/>`,
  video: `${PAPER}<path d="M10 11.75v6.5l5.25-3.25z" fill="currentColor"/>`,
  audio: `${PAPER}<path d="M11.25 17.25v-6l4-1v5.5" ${STROKE} stroke-width="1.5"/><circle cx="9.9" cy="17.4" r="1.5" fill="currentColor"/><circle cx="13.9" cy="15.9" r="1.5" fill="currentColor"/>`,
  text: `${PAPER}<path d="M8.75 12h6.5M8.75 15h6.5M8.75 18h4" ${STROKE} stroke-width="1.5"/>`,
  pdf: `${PAPER}<rect x="3.5" y="12" width="12" height="6.5" rx="1.5" fill="currentColor"/><path d="M6 15.25h7" stroke="#fff" stroke-width="1.5" stroke-linecap="round"/>`,
  archive: `${PAPER}<path d="M10.25 3.5h1.5v1.5h-1.5zM11.75 5h1.5v1.5h-1.5zM10.25 6.5h1.5V8h-1.5zM11.75 8h1.5v1.5h-1.5z" fill="currentColor"/><rect x="10.25" y="11" width="3" height="4.5" rx=".75" ${STROKE} stroke-width="1.4"/>`,
  file: PAPER,
  download: `<path d="M12 4v11m-4.5-4.5L12 15l4.5-4.5M5 19.5h14" ${STROKE}/>`,
  upload: `<path d="M12 15.5v-11M7.5 9 12 4.5 16.5 9M5 19.5h14" ${STROKE}/>`,
  parent: `<path d="M9.5 8.5 5 13l4.5 4.5M5 13h10a4 4 0 0 0 4-4V5" ${STROKE}/>`,
  sort: `<path d="M12 5v13m-4.5-4.5L12 18l4.5-4.5" ${STROKE} stroke-width="2"/>`,
  lock: `<rect x="5" y="10.5" width="14" height="10" rx="2" ${STROKE}/><path d="M8.5 10.5V8a3.5 3.5 0 0 1 7 0v2.5" ${STROKE}/>`,
  logout: `<path d="M9.5 4.5h-3A1.5 1.5 0 0 0 5 6v12a1.5 1.5 0 0 0 1.5 1.5h3M15 16l4-4-4-4M19 12H9.5" ${STROKE}/>`,
  clock: `<circle cx="12" cy="12" r="8.25" ${STROKE}/><path d="M12 7.5V12l3 2" ${STROKE}/>`,
};

/** The hidden sprite to put once at the top of `<body>`, holding only the icons a page uses. */
export function iconSprite(names: Iterable<FileKind | UiIcon>): string {
  const symbols = [...new Set(names)].map((name) => `<symbol id="i-${name}" viewBox="0 0 24 24">${SYMBOLS[name]}</symbol>`);
  return `<svg class="vh" aria-hidden="true" focusable="false">${symbols.join('')}</svg>`;
}

/** One icon from the sprite; `className` adds classes (colours are set in CSS per kind). */
export function icon(name: FileKind | UiIcon, className = ''): string {
  return `<svg class="icon${className === '' ? '' : ` ${className}`}" aria-hidden="true" focusable="false"><use href="#i-${name}"/></svg>`;
}
