import { createHash } from 'node:crypto';
import { RECORD_TYPES } from '../accounts/record-rules.js';
import { escapeHtml } from '../pages/error-page.js';

/*
 * The console's pages (`/console`): server-rendered HTML, plain forms (POST, each with the
 * session's CSRF token), one stylesheet and one small script (the sign-in link's code is read
 * from the URL fragment and posted), both allowed by hash in a CSP that forbids framing.
 */

/** One name of the member's, as the console lists it. */
export interface NameRow {
  readonly label: string;
  readonly url: string;
  readonly online: boolean;
  /** How visitors reach it while online: `direct` (its direct check passed) or `relay` (through the edge). */
  readonly path: 'direct' | 'relay' | null;
}

export interface RouteRow {
  readonly kind: string;
  readonly url: string;
  readonly target: string;
  readonly path: 'direct' | 'relay';
  readonly tunnel: string;
}

export interface RecordRow {
  readonly owner: string;
  readonly fqdn: string;
  readonly type: string;
  readonly value: string;
  readonly ttl: number;
}

export interface TokenRow {
  readonly id: number;
  readonly prefix: string;
  readonly label: string;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
  readonly revokedAt: Date | null;
}

export interface ShareRow {
  readonly label: string;
  readonly url: string;
  readonly locked: boolean;
  readonly online: boolean;
  readonly entries: number;
  readonly expiresAt: number | null;
}

/** Bytes of one hour, all the member's names together. */
export interface TrafficBar {
  readonly hour: Date;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface AccountRow {
  readonly name: string;
  readonly createdAt: Date;
  readonly suspendedAt: Date | null;
  readonly tunnels: number;
  readonly operator: boolean;
}

export interface TunnelRow {
  readonly id: string;
  readonly account: string;
  readonly remoteAddress: string;
  readonly connectedAt: Date;
  readonly routes: readonly string[];
}

export interface TopNameRow {
  readonly account: string;
  readonly name: string;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** Everything the signed-in member's page shows. */
export interface Dashboard {
  readonly account: string;
  readonly csrf: string;
  readonly names: readonly NameRow[];
  readonly routes: readonly RouteRow[];
  readonly records: readonly RecordRow[];
  readonly tokens: readonly TokenRow[];
  /** null: this edge keeps no members' index. */
  readonly shares: readonly ShareRow[] | null;
  /** The last 24 hours, oldest first; null: this edge counts no traffic. */
  readonly traffic: readonly TrafficBar[] | null;
  /** Only for the operator (the `admin` account). */
  readonly operator: { accounts: readonly AccountRow[]; tunnels: readonly TunnelRow[]; topNames: readonly TopNameRow[] | null } | null;
}

export type ConsolePageState = { domain: string } & (
  | { view: 'signIn'; notice?: string }
  /** `/console/login#<code>`: the script posts the code. */
  | { view: 'codeLogin' }
  | { view: 'dashboard'; data: Dashboard; notice?: string; error?: string; newToken?: { token: string; label: string } }
);

const CSS = `:root{--fg:#1c2024;--muted:#68707c;--line:#e4e7eb;--bg:#f5f6f8;--card:#fff;--accent:#2563eb;--accent-bg:#eef3fe;--danger:#c53030;--danger-bg:#fdf0f0;--ok:#1f7a3d;--ok-bg:#e7f6ec;--warn:#8a5a00;--warn-bg:#fff6e0}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
a{color:var(--accent);text-decoration:none}
a:hover{text-decoration:underline}
:focus-visible{outline:2px solid var(--accent);outline-offset:2px;border-radius:4px}
main{max-width:64rem;margin:0 auto;padding:1rem}
header{display:flex;flex-wrap:wrap;align-items:baseline;justify-content:space-between;gap:.5rem;margin:.5rem 0 1rem}
h1{font-size:1.35rem;margin:0}
h2{font-size:1.05rem;margin:0 0 .6rem}
section.card h2:not(:first-child){margin-top:1.25rem}
nav.sections{display:flex;flex-wrap:wrap;gap:.35rem;margin:0 0 1rem}
nav.sections a{padding:.2rem .6rem;border:1px solid var(--line);border-radius:999px;background:var(--card);font-size:.85rem}
.who{color:var(--muted);font-size:.9rem;display:flex;gap:.5rem;align-items:center}
section.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:.9rem 1rem;margin:0 0 1rem}
.card.narrow{max-width:32rem}
.btn{display:inline-flex;align-items:center;justify-content:center;padding:.4rem .8rem;border:1px solid var(--line);border-radius:8px;background:var(--card);color:var(--fg);font:inherit;font-weight:500;line-height:1.3;cursor:pointer;white-space:nowrap}
.btn:hover{background:#f0f2f5}
.btn-primary{background:var(--accent);border-color:var(--accent);color:#fff}
.btn-primary:hover{background:#1d4fd8}
.btn-danger{color:var(--danger)}
.btn-small{padding:.15rem .55rem;font-size:.85rem}
input,select{font:inherit;padding:.4rem .55rem;border:1px solid var(--line);border-radius:8px;background:#fff;color:var(--fg);min-width:0}
form.inline{display:inline-flex;gap:.35rem;align-items:center;margin:0}
form.add{display:flex;flex-wrap:wrap;gap:.5rem;align-items:flex-end;margin-top:.75rem}
form.add label{display:flex;flex-direction:column;font-size:.8rem;color:var(--muted);gap:.15rem}
.card.narrow input{width:100%;margin:.35rem 0 .75rem}
.table-wrap{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.4rem .5rem;border-top:1px solid var(--line);vertical-align:middle}
th{color:var(--muted);font-weight:500;border-top:0}
td.value{overflow-wrap:anywhere;max-width:22rem}
td input.value{width:100%;min-width:8rem}
.alert{margin:0 0 1rem;padding:.6rem .85rem;border-radius:8px;background:var(--ok-bg);color:var(--ok)}
.alert-error{background:var(--danger-bg);color:var(--danger)}
.secret{display:block;margin:.35rem 0;padding:.5rem;background:#f0f2f5;border-radius:6px;font:13px ui-monospace,monospace;overflow-wrap:anywhere;user-select:all}
.badge{display:inline-block;padding:0 .45rem;border-radius:999px;font-size:.75rem;font-weight:600}
.badge-online{background:var(--ok-bg);color:var(--ok)}
.badge-offline{background:#eceef1;color:var(--muted)}
.badge-warn{background:var(--warn-bg);color:var(--warn)}
.badge-danger{background:var(--danger-bg);color:var(--danger)}
.muted{color:var(--muted)}
code{font:12px ui-monospace,monospace;background:#f0f2f5;border-radius:4px;padding:0 .25rem}
svg.chart{width:100%;height:9rem;display:block}
svg.chart rect.out{fill:#2563eb}
svg.chart rect.in{fill:#93b4f5}
svg.chart text{fill:#68707c;font-size:10px}
.legend{font-size:.8rem;color:var(--muted)}
.legend i{display:inline-block;width:.7rem;height:.7rem;border-radius:2px;margin:0 .25rem 0 .6rem;vertical-align:-1px}
.legend i.out{background:#2563eb}
.legend i.in{background:#93b4f5}
footer{color:var(--muted);font-size:.85rem;margin:1.5rem 0}
@media (max-width:40rem){
main{padding:.6rem}
section.card{padding:.7rem}
form.add{flex-direction:column;align-items:stretch}
form.add .btn{width:100%}
th,td{padding:.35rem .3rem}
}`;

/** The sign-in link's script: the code from the fragment into the form, the fragment out of the address bar, then post. */
const LOGIN_SCRIPT = `(function(){var c=location.hash.slice(1);history.replaceState(null,'',location.pathname);var f=document.getElementById('code-login');if(!c||!f){document.getElementById('no-code').hidden=false;return;}f.elements.code.value=c;f.submit();})();`;

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

function csp(script: boolean): string {
  return [
    "default-src 'none'",
    `style-src ${sha256(CSS)}`,
    script ? `script-src ${sha256(LOGIN_SCRIPT)}` : "script-src 'none'",
    "img-src 'self' data:",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The page's HTML and the Content-Security-Policy it must be sent with. */
export function renderConsolePage(state: ConsolePageState): { html: string; csp: string } {
  const title = `Console · ${state.domain}`;
  let body: string;
  if (state.view === 'signIn') body = signInBody(title, state.notice);
  else if (state.view === 'codeLogin') body = codeLoginBody(title);
  else body = dashboardBody(title, state);
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex">
<meta name="referrer" content="same-origin">
<meta name="color-scheme" content="light">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body><main>
${body}
</main>${state.view === 'codeLogin' ? `<script>${LOGIN_SCRIPT}</script>` : ''}</body></html>
`;
  return { html, csp: csp(state.view === 'codeLogin') };
}

function signInBody(title: string, notice: string | undefined): string {
  return `<header><h1>${escapeHtml(title)}</h1></header>
${notice === undefined ? '' : `<p class="alert alert-error" role="alert">${escapeHtml(notice)}</p>`}
<section class="card narrow">
<h2>Sign in</h2>
<p>Run <code>udns console</code> on your PC: it prints a sign-in link, good once for five minutes. Or paste a token (the one <code>udns login</code> saved).</p>
<form method="post" action="/console/login" id="sign-in">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="off" required maxlength="512" spellcheck="false">
<button class="btn btn-primary" type="submit">Sign in</button>
</form>
</section>`;
}

function codeLoginBody(title: string): string {
  return `<header><h1>${escapeHtml(title)}</h1></header>
<section class="card narrow">
<p>Signing you in…</p>
<form method="post" action="/console/login/code" id="code-login"><input type="hidden" name="code" value=""><noscript><p>This sign-in link needs JavaScript: sign in with a token on <a href="/console">the console</a> instead.</p></noscript></form>
<p id="no-code" class="alert alert-error" hidden>This link has no sign-in code: run <code>udns console</code> again and open the link it prints.</p>
</section>`;
}

const NOTICE_SECTIONS = [['names', 'Names'], ['routes', 'Routes'], ['records', 'DNS records'], ['tokens', 'Tokens'], ['shares', 'Shares'], ['traffic', 'Traffic']] as const;

function dashboardBody(title: string, state: Extract<ConsolePageState, { view: 'dashboard' }>): string {
  const { data } = state;
  const hidden = (name: string, value: string): string => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;
  const csrf = hidden('csrf', data.csrf);
  const sections = [...NOTICE_SECTIONS, ...(data.operator === null ? [] : [['operator', 'Operator']] as const)];
  return `<header><h1>${escapeHtml(title)}</h1>
<div class="who"><span>signed in as <b id="account">${escapeHtml(data.account)}</b></span><form method="post" action="/console/logout" class="inline">${csrf}<button class="btn btn-small" type="submit">Sign out</button></form></div></header>
<nav class="sections">${sections.map(([id, text]) => `<a href="#${id}">${text}</a>`).join('')}</nav>
${state.notice === undefined ? '' : `<p class="alert" role="status" id="notice">${escapeHtml(state.notice)}</p>`}
${state.error === undefined ? '' : `<p class="alert alert-error" role="alert" id="error">${escapeHtml(state.error)}</p>`}
${state.newToken === undefined ? '' : `<section class="card" id="new-token"><h2>New token${state.newToken.label === '' ? '' : ` “${escapeHtml(state.newToken.label)}”`}</h2><p>Copy it now: it is shown this once. <code>udns login &lt;token&gt;</code> uses it.</p><code class="secret">${escapeHtml(state.newToken.token)}</code></section>`}
${namesSection(data)}
${routesSection(data)}
${recordsSection(data, csrf)}
${tokensSection(data, csrf)}
${sharesSection(data)}
${trafficSection(data)}
${data.operator === null ? '' : operatorSection(data.operator, csrf)}
<footer>From a terminal: <code>udns status</code>, <code>udns dns</code>, <code>udns account</code>.</footer>`;
}

function table(head: readonly string[], rows: readonly string[], empty: string, id: string): string {
  if (rows.length === 0) return `<p class="muted" id="${id}-empty">${empty}</p>`;
  return `<div class="table-wrap"><table id="${id}-table"><thead><tr>${head.map((cell) => `<th>${cell}</th>`).join('')}</tr></thead><tbody>
${rows.join('\n')}
</tbody></table></div>`;
}

const state = (online: boolean): string => online ? '<span class="badge badge-online">online</span>' : '<span class="badge badge-offline">offline</span>';
const when = (date: Date | null): string => date === null ? '—' : `<time datetime="${date.toISOString()}">${date.toISOString().slice(0, 16).replace('T', ' ')}</time>`;

function namesSection(data: Dashboard): string {
  const rows = data.names.map((name) => `<tr data-name="${escapeHtml(name.label)}"><td><a href="${escapeHtml(name.url)}">${escapeHtml(name.label)}</a></td><td class="state">${state(name.online)}</td><td>${name.path ?? '—'}</td></tr>`);
  return `<section class="card" id="names"><h2>Names</h2>${table(['Name', 'State', 'Path'], rows, 'No names yet: <code>udns http 8080 --name &lt;name&gt;</code> claims one.', 'names')}</section>`;
}

function routesSection(data: Dashboard): string {
  const rows = data.routes.map((route) => `<tr><td>${escapeHtml(route.kind)}</td><td><a href="${escapeHtml(route.url)}">${escapeHtml(route.url)}</a></td><td>${escapeHtml(route.target)}</td><td>${route.path}</td><td><code>${escapeHtml(route.tunnel)}</code></td></tr>`);
  return `<section class="card" id="routes"><h2>Routes</h2>${table(['Kind', 'Public URL', 'To', 'Path', 'Tunnel'], rows, 'No tunnel is connected now.', 'routes')}</section>`;
}

function recordsSection(data: Dashboard, csrf: string): string {
  const hidden = (name: string, value: string): string => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;
  const rows = data.records.map((record) => {
    const key = hidden('owner', record.owner) + hidden('type', record.type) + hidden('value', record.value);
    return `<tr data-record="${escapeHtml(`${record.owner} ${record.type} ${record.value}`)}"><td>${escapeHtml(record.fqdn)}</td><td>${escapeHtml(record.type)}</td><td class="value">${escapeHtml(record.value)}</td><td>${record.ttl}</td>
<td><form method="post" action="/console/records/change" class="inline">${csrf}${key}<input class="value" name="newValue" value="${escapeHtml(record.value)}" aria-label="New value for ${escapeHtml(record.fqdn)}" maxlength="2048" required><input name="ttl" value="${record.ttl}" aria-label="TTL" inputmode="numeric" size="5" maxlength="6"><button class="btn btn-small" type="submit">Change</button></form></td>
<td><form method="post" action="/console/records/delete" class="inline">${csrf}${key}<button class="btn btn-small btn-danger" type="submit">Delete</button></form></td></tr>`;
  });
  const types = RECORD_TYPES.map((type) => `<option>${type}</option>`).join('');
  return `<section class="card" id="records"><h2>DNS records</h2>${table(['Name', 'Type', 'Value', 'TTL', 'Change to', ''], rows, 'No records yet.', 'records')}
<form method="post" action="/console/records/add" class="add" id="add-record">${csrf}
<label>Name<input name="owner" placeholder="www.${escapeHtml(data.names[0]?.label ?? 'alice')}" required maxlength="253" autocomplete="off"></label>
<label>Type<select name="type">${types}</select></label>
<label>Value<input name="value" placeholder="203.0.113.7" required maxlength="2048" autocomplete="off"></label>
<label>TTL (s)<input name="ttl" placeholder="60" inputmode="numeric" size="6" maxlength="6"></label>
<button class="btn btn-primary" type="submit">Add record</button>
</form></section>`;
}

function tokensSection(data: Dashboard, csrf: string): string {
  const rows = data.tokens.map((token) => {
    const action = token.revokedAt === null
      ? `<form method="post" action="/console/tokens/revoke" class="inline">${csrf}<input type="hidden" name="id" value="${token.id}"><button class="btn btn-small btn-danger" type="submit">Revoke</button></form>`
      : '<span class="badge badge-offline">revoked</span>';
    return `<tr data-token="${token.id}"><td><code>${escapeHtml(token.prefix)}…</code></td><td>${escapeHtml(token.label)}</td><td>${when(token.createdAt)}</td><td>${when(token.lastUsedAt)}</td><td>${action}</td></tr>`;
  });
  return `<section class="card" id="tokens"><h2>Tokens</h2>${table(['Token', 'Label', 'Created', 'Last used', ''], rows, 'No tokens.', 'tokens')}
<form method="post" action="/console/tokens/create" class="add" id="create-token">${csrf}
<label>Label<input name="label" placeholder="laptop" maxlength="64" autocomplete="off"></label>
<button class="btn btn-primary" type="submit">Create token</button>
</form></section>`;
}

function sharesSection(data: Dashboard): string {
  if (data.shares === null) return '<section class="card" id="shares"><h2>Shares</h2><p class="muted">This edge keeps no index of shares.</p></section>';
  const rows = data.shares.map((share) => `<tr><td><a href="${escapeHtml(share.url)}">${escapeHtml(share.label)}</a>${share.locked ? ' <span class="badge badge-warn">password</span>' : ''}</td><td>${state(share.online)}</td><td>${share.entries}</td><td>${share.expiresAt === null ? '—' : when(new Date(share.expiresAt))}</td></tr>`);
  return `<section class="card" id="shares"><h2>Listed shares</h2>${table(['Share', 'State', 'Files', 'Expires'], rows, 'No listed shares: <code>udns share DIR --list</code> lists one.', 'shares')}</section>`;
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'] as const;

/** `512 B`, `1.2 MB` (binary multiples). */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${UNITS[unit]}`;
}

function trafficSection(data: Dashboard): string {
  if (data.traffic === null) return '<section class="card" id="traffic"><h2>Traffic</h2><p class="muted">This edge does not count traffic.</p></section>';
  const bars = data.traffic;
  const total = bars.reduce((sum, bar) => sum + bar.bytesIn + bar.bytesOut, 0);
  const max = Math.max(1, ...bars.map((bar) => bar.bytesIn + bar.bytesOut));
  const width = 100 / Math.max(1, bars.length);
  const chartHeight = 100;
  const rects = bars.map((bar, index) => {
    const x = (index * width + width * 0.1).toFixed(2);
    const w = (width * 0.8).toFixed(2);
    const outH = (bar.bytesOut / max) * chartHeight;
    const inH = (bar.bytesIn / max) * chartHeight;
    const label = `${bar.hour.toISOString().slice(11, 16)} UTC: ${formatBytes(bar.bytesOut)} out, ${formatBytes(bar.bytesIn)} in`;
    return `<g><title>${escapeHtml(label)}</title><rect class="out" x="${x}" y="${(chartHeight - outH).toFixed(2)}" width="${w}" height="${outH.toFixed(2)}"></rect><rect class="in" x="${x}" y="${(chartHeight - outH - inH).toFixed(2)}" width="${w}" height="${inH.toFixed(2)}"></rect></g>`;
  }).join('');
  const first = bars[0] === undefined ? '' : bars[0].hour.toISOString().slice(0, 16).replace('T', ' ');
  return `<section class="card" id="traffic"><h2>Traffic, last 24 hours</h2>
<p id="traffic-total">${formatBytes(total)} in all <span class="legend"><i class="out"></i>to visitors<i class="in"></i>from visitors</span></p>
<svg class="chart" viewBox="0 0 100 ${chartHeight}" preserveAspectRatio="none" role="img" aria-label="bytes per hour">${rects}</svg>
<p class="legend">since ${first} UTC, one bar an hour${total === 0 ? ': no visitors yet' : `, the highest ${formatBytes(max)}`}</p></section>`;
}

function operatorSection(operator: NonNullable<Dashboard['operator']>, csrf: string): string {
  const accountRows = operator.accounts.map((account) => {
    const status = account.suspendedAt === null ? '<span class="badge badge-online">active</span>' : `<span class="badge badge-danger">suspended</span> ${when(account.suspendedAt)}`;
    const hidden = `<input type="hidden" name="account" value="${escapeHtml(account.name)}">`;
    const action = account.operator ? '<span class="muted">operator</span>'
      : account.suspendedAt === null
        ? `<form method="post" action="/console/accounts/suspend" class="inline">${csrf}${hidden}<button class="btn btn-small btn-danger" type="submit">Suspend</button></form>`
        : `<form method="post" action="/console/accounts/unsuspend" class="inline">${csrf}${hidden}<button class="btn btn-small" type="submit">Lift suspension</button></form>`;
    return `<tr data-account="${escapeHtml(account.name)}"><td>${escapeHtml(account.name)}</td><td>${when(account.createdAt)}</td><td>${account.tunnels}</td><td class="status">${status}</td><td>${action}</td></tr>`;
  });
  const tunnelRows = operator.tunnels.map((tunnel) => `<tr data-tunnel="${escapeHtml(tunnel.id)}"><td>${escapeHtml(tunnel.account)}</td><td><code>${escapeHtml(tunnel.id)}</code></td><td>${escapeHtml(tunnel.remoteAddress)}</td><td>${when(tunnel.connectedAt)}</td><td>${tunnel.routes.map(escapeHtml).join(', ') || '—'}</td></tr>`);
  const top = operator.topNames === null
    ? '<p class="muted">This edge does not count traffic.</p>'
    : table(['Name', 'Account', 'To visitors', 'From visitors'], operator.topNames.map((row) => `<tr><td>${escapeHtml(row.name)}</td><td>${escapeHtml(row.account)}</td><td>${formatBytes(row.bytesOut)}</td><td>${formatBytes(row.bytesIn)}</td></tr>`), 'No traffic in the last 24 hours.', 'top-names');
  return `<section class="card" id="operator"><h2>Operator: accounts</h2>${table(['Account', 'Created', 'Tunnels', 'Status', ''], accountRows, 'No accounts.', 'accounts')}
<h2>Live tunnels</h2>${table(['Account', 'Tunnel', 'From', 'Since', 'Routes'], tunnelRows, 'No live tunnels.', 'tunnels')}
<h2>Top names, last 24 hours</h2>${top}</section>`;
}
