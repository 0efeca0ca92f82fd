import { createHash } from 'node:crypto';
import { SEARCH_MAX_QUERY_CHARS, SEARCH_MEDIA_KINDS, showsTrust, trustText, type SearchHitView, type SearchMode, type SearchResponse } from '../../protocol/search-api.js';
import { escapeHtml } from './error-page.js';

/*
 * The apex search page (`/search`): a GET form and server-rendered results, so it works without
 * JavaScript and on any phone; no script at all, and a CSP that lets exactly its one inline
 * stylesheet apply (like the share pages, whose kit lives in agent/ and so is not imported here).
 */

/** What the page shows. */
export type SearchPageState = { domain: string; apexUrl: string; mode: SearchMode } & (
  | { view: 'off' }
  /** `--search members` and no (valid) token cookie: the token form. */
  | { view: 'signIn'; notice?: string }
  | {
    view: 'results';
    /** The fields as typed, to fill the form again. */
    form: Record<string, string>;
    /** The signed-in member's account name, null for an anonymous visitor. */
    member: string | null;
    error?: string;
    result?: SearchResponse;
  }
);

const CSS = `:root{--fg:#1c2024;--muted:#68707c;--line:#e4e7eb;--bg:#f5f6f8;--card:#fff;--accent:#2563eb;--accent-bg:#eef3fe;--danger:#c53030;--danger-bg:#fdf0f0;--warn:#8a5a00;--warn-bg:#fff6e0}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Apple SD Gothic Neo","Malgun Gothic",sans-serif}
a{color:var(--accent);text-decoration:none}
a:hover{text-decoration:underline}
:focus-visible{outline:2px solid var(--accent);outline-offset:2px;border-radius:4px}
main{max-width:56rem;margin:0 auto;padding:1rem}
header{display:flex;flex-wrap:wrap;align-items:baseline;justify-content:space-between;gap:.5rem;margin:.5rem 0 1rem}
h1{font-size:1.35rem;margin:0}
.who{color:var(--muted);font-size:.9rem;display:flex;gap:.5rem;align-items:center}
.btn{display:inline-flex;align-items:center;justify-content:center;padding:.45rem .85rem;border:1px solid var(--line);border-radius:8px;background:var(--card);color:var(--fg);font:inherit;font-weight:500;line-height:1.3;cursor:pointer;white-space:nowrap}
.btn:hover{background:#f0f2f5;text-decoration:none}
.btn-primary{background:var(--accent);border-color:var(--accent);color:#fff}
.btn-primary:hover{background:#1d4fd8}
.btn-small{padding:.2rem .6rem;font-size:.85rem}
form.search{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:.75rem;margin-bottom:1rem}
.row{display:flex;gap:.5rem}
input,select{font:inherit;padding:.45rem .6rem;border:1px solid var(--line);border-radius:8px;background:#fff;color:var(--fg);min-width:0}
.row input[type=search]{flex:1}
.filters{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:.5rem;margin-top:.6rem}
.filters label{display:flex;flex-direction:column;font-size:.8rem;color:var(--muted);gap:.15rem;min-width:0}
.filters input,.filters select{width:100%}
.alert{margin:0 0 1rem;padding:.6rem .85rem;border-radius:8px;background:var(--accent-bg);color:#1e3a8a}
.alert-error{background:var(--danger-bg);color:var(--danger)}
.summary{color:var(--muted);margin:0 0 .5rem}
ol.hits{list-style:none;margin:0;padding:0;background:var(--card);border:1px solid var(--line);border-radius:12px}
.hit{padding:.7rem .85rem;border-top:1px solid var(--line);display:grid;grid-template-columns:1fr auto;gap:.15rem .75rem}
.hit:first-child{border-top:0}
.hit .name{font-weight:600;overflow-wrap:anywhere}
.hit .meta,.hit .path{color:var(--muted);font-size:.85rem;overflow-wrap:anywhere}
.hit .actions{grid-row:1/span 3;grid-column:2;align-self:center}
.hit.offline .name{color:var(--muted)}
.badge{display:inline-block;margin-left:.35rem;padding:0 .45rem;border-radius:999px;font-size:.75rem;font-weight:600;vertical-align:middle}
.badge-lock{background:var(--warn-bg);color:var(--warn)}
.badge-offline{background:#eceef1;color:var(--muted)}
.badge-online{background:#e7f6ec;color:#1f7a3d}
.badge-price{background:var(--accent-bg);color:#1e3a8a}
.hit code.buy{display:inline-block;max-width:22rem;overflow-wrap:anywhere}
code{font:12px ui-monospace,monospace;background:#f0f2f5;border-radius:4px;padding:0 .25rem}
nav.pages{display:flex;justify-content:space-between;align-items:center;margin:1rem 0;gap:.5rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:1rem 1.25rem;max-width:32rem}
.card input{width:100%;margin:.35rem 0 .75rem}
footer{color:var(--muted);font-size:.85rem;margin:1.5rem 0}
@media (max-width:40rem){
main{padding:.6rem}
.filters{grid-template-columns:repeat(2,minmax(0,1fr))}
.hit{grid-template-columns:1fr}
.hit .actions{grid-row:auto;grid-column:1;margin-top:.35rem}
.hit .actions .btn{width:100%}
}`;

const CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'`,
  "script-src 'none'",
  "img-src 'self' data:",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The page's HTML and the Content-Security-Policy it must be sent with. */
export function renderSearchPage(state: SearchPageState): { html: string; csp: string } {
  const title = `Search · ${state.domain}`;
  let body: string;
  if (state.view === 'off') {
    body = `<header><h1>${escapeHtml(title)}</h1></header>
<p class="alert">This edge does not offer search (its operator runs it with <code>--search off</code>).</p>`;
  } else if (state.view === 'signIn') {
    body = signInBody(state.domain, state.mode, state.notice);
  } else {
    body = resultsBody(state);
  }
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex">
<meta name="color-scheme" content="light">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body><main>
${body}
</main></body></html>
`;
  return { html, csp: CSP };
}

function signInBody(domain: string, mode: SearchMode, notice: string | undefined): string {
  const why = mode === 'public'
    ? 'Anyone may search the shared folders on this edge; members who sign in see the download path <code>udns get</code> would take for them.'
    : 'Searching the shared folders on this edge is for its members.';
  return `<header><h1>Search · ${escapeHtml(domain)}</h1></header>
${notice === undefined ? '' : `<p class="alert alert-error" role="alert">${escapeHtml(notice)}</p>`}
<div class="card">
<p>${why} Sign in with your udns token: the one <code>udns login</code> saved, or a new one from <code>udns account token &lt;you&gt;</code> on the edge.</p>
<form method="post" action="/search/login" id="sign-in">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="off" required maxlength="512" spellcheck="false">
<button class="btn btn-primary" type="submit">Sign in</button>
</form>
<p class="summary">The browser keeps it in a cookie for this page only (30 days, not readable by scripts or by the members' sites). From a terminal: <code>udns search &lt;words&gt;</code>.</p>
</div>`;
}

function resultsBody(state: Extract<SearchPageState, { view: 'results' }>): string {
  const { form, member, error, result } = state;
  const who = member === null
    ? (state.mode === 'public' ? '<div class="who"><a href="/search/login">Members: sign in</a></div>' : '')
    : `<div class="who"><span>signed in as <b>${escapeHtml(member)}</b></span><form method="post" action="/search/logout"><button class="btn btn-small" type="submit">Sign out</button></form></div>`;
  const option = (kind: string): string => `<option value="${kind}"${form.type === kind ? ' selected' : ''}>${kind}</option>`;
  const field = (name: string, label: string, placeholder: string): string =>
    `<label>${label}<input name="${name}" value="${escapeHtml(form[name] ?? '')}" placeholder="${placeholder}" maxlength="32" autocomplete="off"></label>`;
  return `<header><h1>Search · ${escapeHtml(state.domain)}</h1>${who}</header>
<form class="search" method="get" action="/search" role="search">
<div class="row"><input type="search" name="q" value="${escapeHtml(form.q ?? '')}" placeholder="words in a file or folder name" aria-label="Search words" maxlength="${SEARCH_MAX_QUERY_CHARS}" autofocus>
<button class="btn btn-primary" type="submit">Search</button></div>
<div class="filters">
<label>Type<select name="type"><option value="">any</option>${SEARCH_MEDIA_KINDS.map(option).join('')}</select></label>
${field('minSize', 'Min size', 'e.g. 10M')}
${field('maxSize', 'Max size', 'e.g. 1.5G')}
${field('owner', 'Owner', 'account')}
</div>
</form>
${error === undefined ? '' : `<p class="alert alert-error" role="alert">${escapeHtml(error)}</p>`}
${result === undefined ? '' : resultsList(result, form)}
<footer>Browser downloads go through the edge. <code>udns get &lt;url&gt;</code> takes the shown path (direct, else push or relay) and checks the SHA-256. From a terminal: <code>udns search &lt;words&gt;</code>.</footer>`;
}

function resultsList(result: SearchResponse, form: Record<string, string>): string {
  const hidden = result.offlineHidden ? ' (files of offline members are not shown)' : '';
  if (result.hits.length === 0) {
    return `<p class="summary" id="summary">${result.offset > 0 && result.total > 0 ? 'No more results' : 'No results'} for ${escapeHtml(result.words.join(' '))}${hidden}.</p>`;
  }
  const first = result.offset + 1;
  const last = result.offset + result.hits.length;
  const pageLink = (offset: number, text: string, rel: string): string => {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(form)) if (value.trim() !== '') query.set(key, value);
    if (offset > 0) query.set('offset', String(offset));
    if (result.limit !== 20) query.set('limit', String(result.limit));
    return `<a class="btn" rel="${rel}" href="/search?${escapeHtml(query.toString())}">${text}</a>`;
  };
  const previous = result.offset > 0 ? pageLink(Math.max(0, result.offset - result.limit), '← Previous', 'prev') : '<span></span>';
  const next = last < result.total ? pageLink(last, 'Next →', 'next') : '<span></span>';
  const narrow = result.truncated ? ' · too many to rank them all: add words to narrow it down' : '';
  const total = `${result.total}${result.truncated ? '+' : ''}`;
  return `<p class="summary" id="summary">${total} ${result.total === 1 ? 'file' : 'files'} · showing ${first}–${last}${hidden}${narrow}</p>
<ol class="hits" start="${first}">
${result.hits.map(hitItem).join('\n')}
</ol>
<nav class="pages" aria-label="Pages">${previous}<span class="summary">${first}–${last} of ${total}</span>${next}</nav>`;
}

function hitItem(hit: SearchHitView): string {
  const download = `${hit.url}?download`;
  const badges = [
    hit.locked ? '<span class="badge badge-lock" title="the share asks for a password">🔒 password</span>' : '',
    hit.price === null ? '' : `<span class="badge badge-price" title="a paid file: udns get buys it through the edge's escrow">${hit.price} credit${hit.price === 1 ? '' : 's'}</span>`,
    hit.online ? '<span class="badge badge-online">online</span>' : '<span class="badge badge-offline" title="the sharer\'s PC is not connected now">offline</span>',
  ].join('');
  const via = hit.via === null ? 'not now (offline)' : hit.via;
  const sha = hit.sha256 === null ? '' : ` · sha256 <code title="${escapeHtml(hit.sha256)}">${escapeHtml(hit.sha256.slice(0, 12))}…</code>`;
  const owner = `<a class="owner" href="/members/${encodeURIComponent(hit.owner)}"><b>${escapeHtml(hit.owner)}</b></a>`;
  const trust = showsTrust(hit) ? ` <span class="trust">(${escapeHtml(trustText(hit.trust))})</span>` : '';
  // A paid file is bought with udns get: the browser's download would answer 402.
  const action = hit.price === null
    ? `<a class="btn btn-small download" href="${escapeHtml(download)}">Download</a>`
    : `<code class="buy" title="buy it through the edge's escrow">udns get ${escapeHtml(hit.url)}</code>`;
  return `<li class="hit${hit.online ? '' : ' offline'}" data-share="${escapeHtml(hit.share)}" data-path="${escapeHtml(hit.path)}">
<div><a class="name" href="${escapeHtml(hit.url)}">${escapeHtml(hit.name)}</a>${badges}</div>
<div class="meta">${formatSize(hit.size)} · ${hit.modified.slice(0, 10)} · by ${owner}${trust} · ${escapeHtml(hit.type)}</div>
<div class="path">${escapeHtml(hit.share)}:${escapeHtml(hit.folder)} · udns get: ${via}${sha}</div>
<div class="actions">${action}</div>
</li>`;
}

const SIZE_UNITS = ['KB', 'MB', 'GB', 'TB', 'PB'] as const;

/** `512 B`, `1.2 KB`, `34 MB` (binary multiples, one decimal below 10), as the share pages print sizes. */
function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (unit < SIZE_UNITS.length - 1 && Math.round(value) >= 1024) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${SIZE_UNITS[unit]}`;
}
