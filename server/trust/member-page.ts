import { createHash } from 'node:crypto';
import type { TrustView } from '../../protocol/exchange.js';
import { trustText } from '../../protocol/search-api.js';
import { escapeHtml } from '../pages/error-page.js';
import type { ReceivedRating } from './rating-store.js';

/*
 * A member's page on the apex (`/members/<account>`): their trust as a seller, the newest
 * ratings with comments, and their listed shares. Server-rendered, no script, one inline
 * stylesheet the CSP allows by hash (like the search page).
 */

export interface MemberPageShare {
  label: string;
  url: string;
  online: boolean;
  locked: boolean;
  entries: number;
}

export type MemberPageState = { domain: string } & (
  | { view: 'member'; account: string; trust: TrustView; ratings: ReceivedRating[]; shares: MemberPageShare[] }
  | { view: 'missing'; account: string }
  | { view: 'signIn' }
);

const CSS = `:root{--fg:#1c2024;--muted:#68707c;--line:#e4e7eb;--bg:#f5f6f8;--card:#fff;--accent:#2563eb;--warn:#8a5a00;--warn-bg:#fff6e0;--danger:#c53030}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Apple SD Gothic Neo","Malgun Gothic",sans-serif}
a{color:var(--accent);text-decoration:none}
a:hover{text-decoration:underline}
main{max-width:48rem;margin:0 auto;padding:1rem}
h1{font-size:1.35rem;margin:.5rem 0 1rem;overflow-wrap:anywhere}
h2{font-size:1.05rem;margin:1.25rem 0 .5rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:.85rem 1rem}
.score{font-size:2rem;font-weight:700}
.muted{color:var(--muted)}
.danger{color:var(--danger)}
ul.list{list-style:none;margin:0;padding:0;background:var(--card);border:1px solid var(--line);border-radius:12px}
ul.list li{padding:.6rem .85rem;border-top:1px solid var(--line);overflow-wrap:anywhere}
ul.list li:first-child{border-top:0}
.stars{color:#b7791f;letter-spacing:.05em}
.badge{display:inline-block;margin-left:.35rem;padding:0 .45rem;border-radius:999px;font-size:.75rem;font-weight:600}
.badge-online{background:#e7f6ec;color:#1f7a3d}
.badge-offline{background:#eceef1;color:var(--muted)}
.badge-lock{background:var(--warn-bg);color:var(--warn)}
footer{color:var(--muted);font-size:.85rem;margin:1.5rem 0}`;

const CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'`,
  "script-src 'none'",
  "img-src 'self' data:",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const stars = (score: number): string => '★'.repeat(score) + '☆'.repeat(5 - score);

export function renderMemberPage(state: MemberPageState): { html: string; csp: string } {
  let title: string;
  let body: string;
  if (state.view === 'signIn') {
    title = `Members · ${state.domain}`;
    body = `<h1>${escapeHtml(title)}</h1><p class="card">Member pages on this edge are for its members: <a href="/search">sign in on the search page</a> first.</p>`;
  } else if (state.view === 'missing') {
    title = `${state.account} · ${state.domain}`;
    body = `<h1>${escapeHtml(title)}</h1><p class="card">There is no member named <b>${escapeHtml(state.account)}</b> on this edge.</p>`;
  } else {
    title = `${state.account} · ${state.domain}`;
    body = memberBody(state);
  }
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body><main>
${body}
<footer><a href="/search">Search</a> the files members share. Buyers rate a seller after a purchase: <code>udns rate &lt;sale-id&gt; &lt;1-5&gt; [comment]</code>.</footer>
</main></body></html>
`;
  return { html, csp: CSP };
}

function memberBody(state: Extract<MemberPageState, { view: 'member' }>): string {
  const { trust } = state;
  const score = trust.score === null
    ? '<div class="score muted" id="score">–</div><div class="muted">No ratings yet: a new seller starts at 3 out of 5 until buyers rate them.</div>'
    : `<div class="score" id="score">${trust.score.toFixed(1)}<span class="muted"> / 5</span></div><div class="muted">${escapeHtml(trustText(trust))}</div>`;
  const disputes = trust.disputesLost === 0 ? ''
    : `<div class="danger" id="disputes">${trust.disputesLost} purchase${trust.disputesLost === 1 ? ' was' : 's were'} refunded after a proof that the file sold was not the one listed.</div>`;
  const ratings = state.ratings.length === 0 ? '<p class="muted">None yet.</p>'
    : `<ul class="list" id="ratings">${state.ratings.map((rating) => `<li><span class="stars" title="${rating.score} of 5">${stars(rating.score)}</span> <b>${escapeHtml(rating.rater)}</b> <span class="muted">${rating.createdAt.slice(0, 10)}</span>${rating.comment === '' ? '' : `<div>${escapeHtml(rating.comment)}</div>`}</li>`).join('\n')}</ul>`;
  const shares = state.shares.length === 0 ? '<p class="muted">No listed shares.</p>'
    : `<ul class="list" id="shares">${state.shares.map((share) => `<li><a href="${escapeHtml(share.url)}">${escapeHtml(share.label)}</a>${share.locked ? '<span class="badge badge-lock">🔒 password</span>' : ''}${share.online ? '<span class="badge badge-online">online</span>' : '<span class="badge badge-offline">offline</span>'} <span class="muted">${share.entries} file${share.entries === 1 ? '' : 's'}</span></li>`).join('\n')}</ul>`;
  return `<h1>${escapeHtml(state.account)} <span class="muted">· ${escapeHtml(state.domain)}</span></h1>
<section class="card" aria-label="Trust as a seller">${score}${disputes}</section>
<h2>Recent ratings</h2>
${ratings}
<h2>Listed shares</h2>
${shares}`;
}
