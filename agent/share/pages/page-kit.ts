import { createHash } from 'node:crypto';

/**
 * What every share page has in common: escaping, the document frame and the base stylesheet.
 * Pages are self-contained (inline `<style>`/`<script>`, no external assets), so a share serves
 * nothing of its own besides the folder.
 */

/** Escapes text for HTML element content and (double- or single-quoted) attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Light theme, system font; the pages add their own rules after these. */
export const BASE_CSS = `:root{--fg:#1c2024;--muted:#68707c;--line:#e4e7eb;--bg:#f5f6f8;--card:#fff;--accent:#2563eb;--accent-bg:#eef3fe;--danger:#c53030;--danger-bg:#fdf0f0}
*{box-sizing:border-box}
[hidden]{display:none!important}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Apple SD Gothic Neo","Malgun Gothic",sans-serif}
a{color:var(--accent);text-decoration:none}
a:hover{text-decoration:underline}
:focus-visible{outline:2px solid var(--accent);outline-offset:2px;border-radius:4px}
.btn{display:inline-flex;align-items:center;gap:.4rem;padding:.45rem .85rem;border:1px solid var(--line);border-radius:8px;background:var(--card);color:var(--fg);font:inherit;font-weight:500;line-height:1.3;cursor:pointer;white-space:nowrap}
.btn:hover{background:#f0f2f5;text-decoration:none}
.btn-primary{background:var(--accent);border-color:var(--accent);color:#fff}
.btn-primary:hover{background:#1d4fd8}
.icon{width:20px;height:20px;flex:none;vertical-align:middle}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.alert{margin:0 0 1rem;padding:.6rem .85rem;border-radius:8px;background:var(--accent-bg);color:#1e3a8a}
.alert-error{background:var(--danger-bg);color:var(--danger)}
`;

/** The parts of one page. `css` and `script` must not depend on the page's data (see `contentSecurityPolicy`). */
export interface DocumentParts {
  title: string;
  css: string;
  body: string;
  script?: string;
}

/** A complete HTML document: charset, viewport, `noindex`, inline style and script. */
export function renderDocument(parts: DocumentParts): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex">
<meta name="color-scheme" content="light">
<link rel="icon" href="data:,">
<title>${escapeHtml(parts.title)}</title>
<style>${parts.css}</style>
</head>
<body>
${parts.body}
${parts.script === undefined ? '' : `<script>${parts.script}</script>\n`}</body></html>
`;
}

/**
 * A `Content-Security-Policy` that lets exactly these inline styles and scripts run (by hash) and
 * nothing else: a file name that slipped past escaping still could not execute.
 */
export function contentSecurityPolicy(inline: { styles: string[]; scripts: string[] }): string {
  const hashes = (texts: string[]): string => texts.map((text) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`).join(' ');
  return [
    "default-src 'none'",
    `style-src ${hashes(inline.styles)}`,
    `script-src ${inline.scripts.length === 0 ? "'none'" : hashes(inline.scripts)}`,
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
