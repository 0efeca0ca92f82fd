import { encodeSharePath, SHARE_LOGOUT_PATH, SHARE_QUERY, type ShareEntry } from '../../../protocol/share-api.js';
import { fileKind, icon, iconSprite, type FileKind } from './file-icons.js';
import { formatDuration, formatSize, formatUtc } from './human-format.js';
import { LISTING_SCRIPT } from './listing-script.js';
import { BASE_CSS, contentSecurityPolicy, escapeHtml, renderDocument } from './page-kit.js';

/** Everything the listing page shows; the server has already read and sorted the folder. */
export interface ListingPageModel {
  /** The share's public host name, e.g. `alice.localhost`. */
  title: string;
  /** Decoded folder path inside the share: `/` or `/a b/한글/` (always ends in `/`). */
  path: string;
  /** Already sorted by the server, folders first. */
  entries: ShareEntry[];
  sort: ListingSort;
  order: ListingOrder;
  allowUpload: boolean;
  /** Shows a "Log out" button (a POST form to `SHARE_LOGOUT_PATH`). */
  passwordProtected: boolean;
  /** When the share stops answering (`--expires`). */
  expiresAt?: Date;
  /** One line at the top, e.g. the outcome of an upload made without JavaScript. */
  notice?: string;
}
export type ListingSort = 'name' | 'size' | 'modified';
export type ListingOrder = 'asc' | 'desc';

const COLUMNS: { sort: ListingSort; label: string; firstOrder: ListingOrder }[] = [
  { sort: 'name', label: 'Name', firstOrder: 'asc' },
  // Biggest and newest first is what people look for when they switch to these columns.
  { sort: 'size', label: 'Size', firstOrder: 'desc' },
  { sort: 'modified', label: 'Modified', firstOrder: 'desc' },
];

const LISTING_CSS = `${BASE_CSS}
.page{max-width:64rem;margin:0 auto;padding:1.5rem 1.25rem 3rem}
.top{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:.75rem 1rem;margin-bottom:1rem}
.crumbs{display:flex;flex-wrap:wrap;align-items:center;gap:.15rem .35rem;font-size:1.2rem;font-weight:600;min-width:0}
.crumbs a{color:var(--fg)}
.crumbs a:hover{color:var(--accent)}
.crumbs .sep{color:#b3b9c2;font-weight:400}
.crumbs .host{color:var(--muted)}
.crumbs [aria-current]{color:var(--fg)}
.crumbs a,.crumbs span{overflow-wrap:anywhere}
.actions{display:flex;gap:.5rem;align-items:center}
.actions form{margin:0}
.meta{display:flex;flex-wrap:wrap;gap:.25rem 1rem;margin:-.5rem 0 1rem;color:var(--muted);font-size:.875rem}
.meta .icon{width:16px;height:16px;margin-right:.25rem;vertical-align:-3px}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;overflow:hidden}
table{width:100%;border-collapse:collapse}
th,td{padding:.55rem .9rem;text-align:left;vertical-align:middle}
thead th{background:#fafbfc;border-bottom:1px solid var(--line);font-size:.8rem;font-weight:600;text-transform:uppercase;letter-spacing:.03em;color:var(--muted);white-space:nowrap}
thead th a{color:inherit;display:inline-flex;align-items:center;gap:.2rem}
thead th a:hover{color:var(--fg);text-decoration:none}
thead a:has(.arrow){color:var(--fg)}
.arrow{width:14px;height:14px}
.arrow-asc{transform:rotate(180deg)}
tbody tr+tr td{border-top:1px solid #eef0f3}
tbody tr:hover{background:#f8f9fb}
tbody tr.fresh{background:#f0fdf4}
.col-size,.col-modified{white-space:nowrap;color:var(--muted);font-variant-numeric:tabular-nums}
.col-size{text-align:right;width:7rem}
.col-modified{width:12.5rem}
th.col-size a{flex-direction:row-reverse}
.col-actions{width:3.5rem;text-align:right;padding-left:0}
.price{display:inline-block;margin-left:.5rem;padding:0 .4rem;border-radius:.6rem;background:#fff4d6;color:#7a5200;font-size:.75rem;font-weight:600;white-space:nowrap;vertical-align:middle}
.entry{display:flex;align-items:center;gap:.7rem;color:var(--fg);min-width:0}
.entry:hover{color:var(--accent);text-decoration:none}
.entry:hover .name{text-decoration:underline}
.name{overflow-wrap:anywhere}
.entry .icon{width:24px;height:24px}
.k-folder{color:#e8a63a}.k-image{color:#16a34a}.k-video{color:#7c3aed}.k-audio{color:#db2777}.k-text{color:#5b6b82}.k-pdf{color:#dc2626}.k-archive{color:#b7791f}.k-file{color:#8a94a3}.k-parent{color:var(--muted)}
.sub,.sort-alt{display:none}
.icon-btn{display:inline-flex;padding:.35rem;border-radius:8px;color:var(--muted)}
.icon-btn:hover{background:var(--accent-bg);color:var(--accent)}
.empty td{padding:2.5rem 1rem;text-align:center;color:var(--muted)}
.upload{margin-top:1.5rem;padding:1.1rem 1.25rem;border:1.5px dashed #c9ced6;border-radius:12px;background:var(--card)}
.upload h2{display:flex;align-items:center;gap:.5rem;margin:0 0 .75rem;font-size:1rem}
.upload form{display:flex;flex-wrap:wrap;align-items:center;gap:.75rem 1.25rem;margin:0}
.check{display:inline-flex;align-items:center;gap:.45rem;color:var(--muted);font-size:.9rem;cursor:pointer}
.check input{width:1rem;height:1rem;margin:0}
.picker{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem}
.pick-label,.drop-hint{display:none}
.js-upload .pick-label{display:inline-flex}
.js-upload .drop-hint{display:inline;color:var(--muted);font-size:.9rem}
.js-upload .picker input[type=file]{position:absolute;width:1px;height:1px;opacity:0}
.js-upload .picker button{display:none}
.picker input[type=file]:focus-visible+.pick-label{outline:2px solid var(--accent);outline-offset:2px}
#upload-status{margin:1rem 0 0}
.uploads{list-style:none;margin:1rem 0 0;padding:0;display:grid;gap:.5rem}
.uploads li{display:grid;grid-template-columns:minmax(0,1fr) 10rem;gap:.15rem 1rem;align-items:center;font-size:.9rem}
.up-name{overflow-wrap:anywhere}
.up-state{grid-column:1/-1;color:var(--muted);font-size:.8rem}
.uploads progress{width:100%;height:.5rem;accent-color:var(--accent)}
.uploads .done .up-state{color:#15803d}
.uploads .failed .up-state{color:var(--danger)}
.uploads .failed progress{accent-color:var(--danger)}
.drop{position:fixed;inset:0;z-index:10;display:flex;align-items:center;justify-content:center;background:rgba(37,99,235,.1);border:3px dashed var(--accent);pointer-events:none}
.drop div{display:flex;align-items:center;gap:.6rem;padding:1rem 1.5rem;border-radius:12px;background:var(--card);box-shadow:0 8px 30px rgba(0,0,0,.12);font-weight:600}
footer{margin-top:2rem;color:#9aa1ab;font-size:.8rem;text-align:center}
@media (max-width:640px){
.page{padding:1rem .75rem 2rem}
.crumbs{font-size:1.05rem}
.top{align-items:flex-start}
.btn .long{display:none}
th,td{padding:.55rem .6rem}
.col-modified,.col-size{display:none}
.sub{display:block;margin-left:calc(24px + .7rem);color:var(--muted);font-size:.8rem;font-variant-numeric:tabular-nums}
.sort-alt{display:inline-flex;gap:1rem;margin-left:1rem}
.uploads li{grid-template-columns:minmax(0,1fr) 6rem}
}
`;

/** The listing page's Content-Security-Policy header value (its inline style and script by hash). */
export const LISTING_PAGE_CSP = contentSecurityPolicy({ styles: [LISTING_CSS], scripts: [LISTING_SCRIPT] });

/** Renders a folder of a share as a complete HTML page. Pure: no I/O; `now` is for the expiry line. */
export function renderListingPage(model: ListingPageModel, now: Date = new Date()): string {
  const segments = model.path.split('/').filter((segment) => segment !== '');
  const here = encodeSharePath(model.path);
  const kinds = new Set<FileKind>(model.entries.map((entry) => fileKind(entry.name, entry.type)));
  const sprite = iconSprite([...kinds, 'download', 'upload', 'parent', 'sort', 'logout', 'clock']);
  const body = `${sprite}
<div class="page">
<header class="top">
${renderBreadcrumbs(model.title, segments)}
<div class="actions">
<a class="btn" href="${escapeHtml(`${here}?${SHARE_QUERY.zip}`)}">${icon('download')}<span>Download <span class="long">folder </span>as ZIP</span></a>
${model.passwordProtected ? `<form method="post" action="${escapeHtml(SHARE_LOGOUT_PATH)}"><button class="btn" type="submit">${icon('logout')}Log out</button></form>` : ''}
</div>
</header>
${renderMeta(model, now)}
${model.notice === undefined ? '' : `<p class="alert" role="status">${escapeHtml(model.notice)}</p>`}
<main class="card">
<table id="listing">
<thead><tr>${COLUMNS.map((column) => renderHeader(column, model, here)).join('')}<th class="col-actions"><span class="vh">Download</span></th></tr></thead>
<tbody>
${segments.length > 0 ? renderParentRow(segments) : ''}${model.entries.length === 0 ? '<tr class="empty"><td colspan="4">This folder is empty.</td></tr>\n' : ''}${model.entries.map((entry) => renderRow(entry, model.path)).join('')}</tbody>
</table>
</main>
${model.allowUpload ? renderUpload(here, model.path) : ''}
<footer>Shared from a home computer with udns</footer>
</div>
${model.allowUpload ? `<div id="drop-overlay" class="drop" hidden><div>${icon('upload')}Drop files to upload them here</div></div>` : ''}`;
  const name = segments.at(-1);
  return renderDocument({ title: name === undefined ? model.title : `${name} · ${model.title}`, css: LISTING_CSS, body, script: LISTING_SCRIPT });
}

function renderBreadcrumbs(host: string, segments: string[]): string {
  const crumbs = [{ label: host, href: '/', className: 'host' }].concat(
    segments.map((segment, index) => ({ label: segment, href: encodeSharePath(`/${segments.slice(0, index + 1).join('/')}/`), className: '' })),
  );
  const links = crumbs.map((crumb, index) => {
    const cls = crumb.className === '' ? '' : ` class="${crumb.className}"`;
    return index === crumbs.length - 1
      ? `<span${cls} aria-current="page">${escapeHtml(crumb.label)}</span>`
      : `<a${cls} href="${escapeHtml(crumb.href)}">${escapeHtml(crumb.label)}</a>`;
  });
  return `<nav class="crumbs" aria-label="Folder path">${links.join('<span class="sep" aria-hidden="true">/</span>')}</nav>`;
}

function renderMeta(model: ListingPageModel, now: Date): string {
  const folders = model.entries.filter((entry) => entry.type === 'dir').length;
  const files = model.entries.length - folders;
  const bytes = model.entries.reduce((sum, entry) => sum + (entry.type === 'file' ? entry.size : 0), 0);
  const counts = [folders > 0 ? plural(folders, 'folder') : '', files > 0 ? `${plural(files, 'file')} · ${formatSize(bytes)}` : ''].filter((text) => text !== '');
  const parts = counts.length === 0 ? [] : [counts.join(', ')];
  if (model.expiresAt !== undefined) {
    const left = model.expiresAt.getTime() - now.getTime();
    const until = `<time datetime="${model.expiresAt.toISOString()}">${formatUtc(model.expiresAt)}</time>`;
    parts.push(`${icon('clock')}${left > 0 ? `Expires in ${formatDuration(left)} (${until})` : `Expired ${until}`}`);
  }
  return parts.length === 0 ? '' : `<p class="meta">${parts.map((part) => `<span>${part}</span>`).join('')}</p>`;
}

function renderHeader(column: (typeof COLUMNS)[number], model: ListingPageModel, here: string): string {
  const ariaSort = column.sort === model.sort ? ` aria-sort="${model.order === 'asc' ? 'ascending' : 'descending'}"` : '';
  // Phones hide the size and modified columns, so the name header carries their sort links too.
  const alternatives = column.sort === 'name'
    ? `<span class="sort-alt">${COLUMNS.slice(1).map((other) => renderSortLink(other, model, here)).join('')}</span>`
    : '';
  return `<th class="col-${column.sort}"${ariaSort}>${renderSortLink(column, model, here)}${alternatives}</th>`;
}

/** A column's sort link: toggles the order of the current column, else starts at its first order. */
function renderSortLink(column: (typeof COLUMNS)[number], model: ListingPageModel, here: string): string {
  const current = column.sort === model.sort;
  const order: ListingOrder = current ? (model.order === 'asc' ? 'desc' : 'asc') : column.firstOrder;
  const href = `${here}?${SHARE_QUERY.sort}=${column.sort}&${SHARE_QUERY.order}=${order}`;
  const arrow = current ? icon('sort', `arrow arrow-${model.order}`) : '';
  const hint = `Sort by ${column.label.toLowerCase()}, ${order === 'asc' ? 'ascending' : 'descending'}`;
  return `<a href="${escapeHtml(href)}" title="${hint}">${column.label}${arrow}</a>`;
}

function renderParentRow(segments: string[]): string {
  const parent = segments.length === 1 ? '/' : `/${segments.slice(0, -1).join('/')}/`;
  return `<tr class="parent-row"><td colspan="4"><a class="entry" href="${escapeHtml(encodeSharePath(parent))}" title="Parent folder">${icon('parent', 'k-parent')}<span class="name">..</span></a></td></tr>\n`;
}

function renderRow(entry: ShareEntry, folder: string): string {
  const isDir = entry.type === 'dir';
  const href = encodeSharePath(`${folder}${entry.name}${isDir ? '/' : ''}`);
  const name = escapeHtml(entry.name);
  const kind = fileKind(entry.name, entry.type);
  const modified = new Date(entry.modified);
  const time = Number.isNaN(modified.getTime())
    ? escapeHtml(entry.modified)
    : `<time datetime="${modified.toISOString()}">${formatUtc(modified)}</time>`;
  const size = isDir ? '' : formatSize(entry.size);
  const download = isDir
    ? `<a class="icon-btn" href="${escapeHtml(`${href}?${SHARE_QUERY.zip}`)}" title="Download folder as ZIP" aria-label="Download ${name} as ZIP">${icon('download')}</a>`
    : `<a class="icon-btn" href="${escapeHtml(`${href}?${SHARE_QUERY.download}`)}" title="Download" aria-label="Download ${name}">${icon('download')}</a>`;
  return `<tr data-name="${name}" data-type="${entry.type}">`
    + `<td class="col-name"><a class="entry" href="${escapeHtml(href)}">${icon(kind, `k-${kind}`)}<span class="name">${name}</span></a>${priceBadge(entry)}`
    + `<span class="sub">${size === '' ? '' : `${size} · `}${time}</span></td>`
    + `<td class="col-size" data-bytes="${entry.size}">${size}</td>`
    + `<td class="col-modified">${time}</td>`
    + `<td class="col-actions">${download}</td></tr>\n`;
}

/** A paid file's price beside its name (`udns share --price`): clicking it answers how to buy it. */
function priceBadge(entry: ShareEntry): string {
  if (entry.price === undefined) return '';
  const credits = `${entry.price.toLocaleString('en')} credit${entry.price === 1 ? '' : 's'}`;
  return `<span class="price" title="Paid file: buy it with udns get">${escapeHtml(credits)}</span>`;
}

function renderUpload(here: string, folder: string): string {
  return `<section class="upload" aria-labelledby="upload-title">
<h2 id="upload-title">${icon('upload')}Upload to ${escapeHtml(folder)}</h2>
<form id="upload-form" method="post" action="${escapeHtml(here)}" enctype="multipart/form-data">
<label class="check"><input type="checkbox" name="overwrite" value="1">Replace files that have the same name</label>
<div class="picker"><input id="upload-input" type="file" name="file" multiple><label class="btn btn-primary pick-label" for="upload-input">Choose files…</label><button class="btn btn-primary" type="submit">Upload</button><span class="drop-hint">or drop them anywhere on this page</span></div>
</form>
<p id="upload-status" class="alert" role="alert" hidden></p>
<ul id="upload-list" class="uploads" hidden></ul>
</section>`;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
