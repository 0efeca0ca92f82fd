/**
 * The inspector's page: plain HTML, CSS and a script served from the inspector itself (the
 * Content-Security-Policy allows nothing else). Captured traffic is only ever put into the page
 * as text (textContent, never innerHTML): a body holding `<script>` shows as those characters.
 */
export const INSPECTOR_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>udns inspector</title>
<link rel="stylesheet" href="/inspector.css">
<script src="/inspector.js" defer></script>
</head>
<body>
<header>
  <h1>udns inspector</h1>
  <form id="filters" role="search">
    <input id="filter-q" type="search" placeholder="Search path, headers, bodies" aria-label="Search">
    <select id="filter-method" aria-label="Method">
      <option value="">All methods</option><option>GET</option><option>POST</option><option>PUT</option><option>PATCH</option><option>DELETE</option><option>HEAD</option><option>OPTIONS</option>
    </select>
    <select id="filter-status" aria-label="Status">
      <option value="">All statuses</option><option value="2xx">2xx</option><option value="3xx">3xx</option><option value="4xx">4xx</option><option value="5xx">5xx</option><option value="1xx">1xx</option><option value="pending">pending</option><option value="aborted">aborted</option><option value="replay">replays</option>
    </select>
    <button type="button" id="clear">Clear</button>
  </form>
  <span id="live" class="live" title="live updates">connecting…</span>
</header>
<main>
  <section id="list-pane">
    <table id="list">
      <thead><tr><th>#</th><th>Time</th><th>Method</th><th>Path</th><th>Status</th><th>Duration</th><th>Size</th></tr></thead>
      <tbody></tbody>
    </table>
    <p id="empty" class="empty">No requests yet: visit your public URL and they show up here.</p>
    <p id="not-recorded" class="empty" hidden></p>
  </section>
  <section id="detail" hidden>
    <div class="detail-head">
      <h2 id="detail-title"></h2>
      <div class="actions"><button type="button" id="replay">Replay</button><button type="button" id="edit-replay">Edit &amp; replay</button></div>
    </div>
    <p id="detail-meta" class="meta"></p>
    <p id="detail-error" class="error" hidden></p>
    <form id="edit-form" hidden>
      <h3>Edit and replay</h3>
      <label>Method <input id="edit-method" size="8"></label>
      <label>Path <input id="edit-path" size="60"></label>
      <label>Headers (one <code>Name: value</code> a line) <textarea id="edit-headers" rows="8"></textarea></label>
      <label>Body <textarea id="edit-body" rows="8"></textarea></label>
      <div class="actions"><button type="submit" id="edit-send">Send</button><button type="button" id="edit-cancel">Cancel</button></div>
      <p id="edit-error" class="error" hidden></p>
    </form>
    <div class="side request"><h3>Request</h3><table class="headers"></table><div class="body"></div></div>
    <div class="side response"><h3>Response</h3><table class="headers"></table><div class="body"></div></div>
  </section>
</main>
</body>
</html>
`;

export const INSPECTOR_CSS = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;color:#1d2430;background:#f6f7f9}
header{display:flex;flex-wrap:wrap;gap:.75rem;align-items:center;padding:.6rem 1rem;background:#1d2430;color:#fff}
header h1{font-size:1rem;margin:0}
#filters{display:flex;flex-wrap:wrap;gap:.4rem;flex:1}
#filters input{flex:1;min-width:12rem}
input,select,textarea,button{font:inherit;padding:.25rem .4rem}
button{cursor:pointer}
.live{font-size:.8rem;opacity:.8}
.live.on::before{content:"● ";color:#3c3}
main{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1.2fr);gap:0;height:calc(100vh - 3rem)}
@media (max-width:900px){main{grid-template-columns:1fr;height:auto}}
#list-pane{overflow:auto;border-right:1px solid #d5d9e0;background:#fff}
#list{width:100%;border-collapse:collapse;font-size:13px}
#list th{position:sticky;top:0;background:#eef0f4;text-align:left;padding:.3rem .4rem}
#list td{padding:.25rem .4rem;border-bottom:1px solid #eef0f4;white-space:nowrap}
#list td.path{max-width:28rem;overflow:hidden;text-overflow:ellipsis}
#list tbody tr{cursor:pointer}
#list tbody tr:hover{background:#f0f4ff}
#list tbody tr.selected{background:#dde7ff}
.s2{color:#167a2e}.s3{color:#2457c5}.s4{color:#b26a00}.s5,.aborted{color:#c62828}.pending{color:#777}
.tag{font-size:11px;border-radius:3px;padding:0 .3rem;background:#e6e0ff;color:#4a2bb5;margin-left:.3rem}
.empty{padding:1rem;color:#666}
#detail{overflow:auto;padding:.8rem 1rem}
.detail-head{display:flex;justify-content:space-between;align-items:center;gap:1rem}
.detail-head h2{font-size:1rem;margin:0;word-break:break-all}
.meta{color:#555;font-size:12px}
.error{color:#c62828}
.side{background:#fff;border:1px solid #d5d9e0;border-radius:6px;padding:.5rem .8rem;margin:.6rem 0}
.side h3{margin:.2rem 0 .4rem;font-size:.9rem}
table.headers{border-collapse:collapse;font:12px ui-monospace,monospace;width:100%}
table.headers td{padding:.1rem .4rem;vertical-align:top;word-break:break-all}
table.headers td:first-child{color:#555;white-space:nowrap;width:1%}
.body pre{background:#f6f7f9;padding:.5rem;overflow:auto;max-height:60vh;font:12px/1.35 ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}
.body .bar{display:flex;gap:.5rem;align-items:center;font-size:12px;color:#555}
#edit-form{background:#fff;border:1px solid #d5d9e0;border-radius:6px;padding:.6rem .8rem}
#edit-form label{display:block;margin:.3rem 0}
#edit-form textarea{width:100%;font:12px ui-monospace,monospace}
`;

export const INSPECTOR_JS = `'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const tbody = document.querySelector('#list tbody');
  let selected = null;
  let current = null;
  let listTimer = null;
  let detailTimer = null;
  const api = async (path, init) => {
    const response = await fetch(path, init);
    const data = await response.json();
    if (!response.ok) throw new Error(data && data.error ? data.error.message : 'HTTP ' + response.status);
    return data;
  };
  const el = (tag, text, className) => {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  };
  const size = (bytes) => bytes < 1024 ? bytes + ' B' : bytes < 1048576 ? (bytes / 1024).toFixed(1) + ' KiB' : (bytes / 1048576).toFixed(1) + ' MiB';
  const ms = (value) => value === null || value === undefined ? '' : value < 1000 ? value.toFixed(1) + ' ms' : (value / 1000).toFixed(2) + ' s';
  const statusClass = (r) => r.state === 'aborted' ? 'aborted' : r.status === null ? 'pending' : 's' + String(r.status)[0];
  const query = () => {
    const params = new URLSearchParams();
    const q = $('filter-q').value.trim();
    if (q) params.set('q', q);
    if ($('filter-method').value) params.set('method', $('filter-method').value);
    if ($('filter-status').value) params.set('status', $('filter-status').value);
    return params.toString();
  };

  async function loadList() {
    listTimer = null;
    let data;
    try { data = await api('/api/requests?' + query()); } catch (error) { return; }
    tbody.replaceChildren();
    for (const r of data.requests) {
      const row = el('tr');
      row.dataset.id = String(r.id);
      if (r.id === selected) row.classList.add('selected');
      row.append(el('td', r.id), el('td', new Date(r.startedAt).toLocaleTimeString()), el('td', r.method, 'method'));
      const path = el('td', r.path, 'path');
      path.title = r.path;
      if (r.replayOf !== null) path.append(el('span', 'replay of #' + r.replayOf, 'tag'));
      if (r.upgraded) path.append(el('span', 'upgraded', 'tag'));
      row.append(path);
      row.append(el('td', r.state === 'aborted' ? 'aborted' : r.status === null ? '…' : r.status, 'status ' + statusClass(r)));
      row.append(el('td', ms(r.durationMs)), el('td', size(r.responseBytes)));
      row.addEventListener('click', () => select(r.id));
      tbody.append(row);
    }
    $('empty').hidden = data.requests.length > 0;
    const skipped = $('not-recorded');
    skipped.hidden = !(data.notRecorded > 0);
    skipped.textContent = data.notRecorded > 0 ? data.notRecorded + ' requests came too fast to record (over ' + data.recordPerSecond + ' a second); the tunnel served them all.' : '';
    $('empty').textContent = query() ? 'Nothing matches these filters.' : 'No requests yet: visit your public URL and they show up here.';
  }
  const scheduleList = () => { if (listTimer === null) listTimer = setTimeout(loadList, 120); };

  async function select(id) {
    selected = id;
    for (const row of tbody.children) row.classList.toggle('selected', row.dataset.id === String(id));
    await loadDetail();
  }

  async function loadDetail() {
    detailTimer = null;
    if (selected === null) return;
    let r;
    try { r = await api('/api/requests/' + selected); } catch (error) { return; }
    current = r;
    $('detail').hidden = false;
    $('detail-title').textContent = r.method + ' ' + r.path;
    const parts = ['#' + r.id, new Date(r.startedAt).toLocaleString(), r.route, 'from ' + r.remoteAddress];
    if (r.status !== null) parts.push(r.status + ' ' + r.statusText);
    if (r.durationMs !== null) parts.push(ms(r.durationMs) + (r.firstByteMs !== null ? ' (first byte ' + ms(r.firstByteMs) + ')' : ''));
    if (r.replayOf !== null) parts.push('replay of #' + r.replayOf);
    $('detail-meta').textContent = parts.join(' · ');
    $('detail-error').hidden = !r.error;
    $('detail-error').textContent = r.error || '';
    renderSide(document.querySelector('#detail .request'), r.request.headers, r.request.body, r.method + ' ' + r.path + ' HTTP/' + r.request.httpVersion);
    renderSide(document.querySelector('#detail .response'), r.response.headers, r.response.body, r.status === null ? (r.state === 'pending' ? 'waiting for the response…' : 'no response') : r.status + ' ' + r.statusText);
  }
  const scheduleDetail = () => { if (detailTimer === null) detailTimer = setTimeout(loadDetail, 120); };

  function renderSide(side, headers, body, firstLine) {
    const table = side.querySelector('table.headers');
    table.replaceChildren();
    const first = el('tr');
    const cell = el('td', firstLine);
    cell.colSpan = 2;
    first.append(cell);
    table.append(first);
    for (const [name, value] of headers) {
      const row = el('tr');
      row.append(el('td', name), el('td', value));
      table.append(row);
    }
    const box = side.querySelector('.body');
    box.replaceChildren();
    if (body.bytes === 0) { box.append(el('p', 'no body', 'meta')); return; }
    const bar = el('div', undefined, 'bar');
    let note = size(body.bytes) + (body.contentType ? ' · ' + body.contentType : '');
    if (body.decoded) note += ' · ' + body.decoded + ' decoded';
    if (body.truncated) note += ' · truncated: first ' + size(body.kept) + ' kept';
    bar.append(el('span', note));
    const pretty = prettyBody(body);
    const pre = el('pre');
    let showPretty = pretty !== null;
    const toggle = el('button', 'Raw');
    toggle.type = 'button';
    const draw = () => {
      pre.textContent = showPretty ? pretty : body.encoding === 'base64' ? '(binary, base64)\\n' + body.data : body.data;
      pre.className = showPretty ? 'pretty' : 'raw';
      toggle.textContent = showPretty ? 'Raw' : 'Pretty';
    };
    toggle.addEventListener('click', () => { showPretty = !showPretty; draw(); });
    if (pretty !== null) bar.append(toggle);
    draw();
    box.append(bar, pre);
  }

  function prettyBody(body) {
    if (body.encoding !== 'utf8') return null;
    const type = (body.contentType || '').toLowerCase();
    const text = body.data;
    if (type.includes('json') || /^\\s*[[{]/.test(text)) {
      try { return JSON.stringify(JSON.parse(text), null, 2); } catch (error) { /* not JSON after all */ }
    }
    if (type.includes('application/x-www-form-urlencoded')) {
      const lines = [];
      for (const [key, value] of new URLSearchParams(text)) lines.push(key + ' = ' + value);
      return lines.join('\\n');
    }
    return null;
  }

  async function replay(edits) {
    const r = await api('/api/requests/' + current.id + '/replay', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(edits || {}) });
    await loadList();
    await select(r.id);
  }
  $('replay').addEventListener('click', () => { replay({}).catch((error) => { $('detail-error').hidden = false; $('detail-error').textContent = error.message; }); });
  $('edit-replay').addEventListener('click', () => {
    if (!current) return;
    $('edit-method').value = current.method;
    $('edit-path').value = current.path;
    $('edit-headers').value = current.request.headers.map(([name, value]) => name + ': ' + value).join('\\n');
    $('edit-body').value = current.request.body.encoding === 'utf8' ? current.request.body.data : '';
    $('edit-error').hidden = true;
    $('edit-form').hidden = false;
  });
  $('edit-cancel').addEventListener('click', () => { $('edit-form').hidden = true; });
  $('edit-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const headers = [];
    for (const line of $('edit-headers').value.split('\\n')) {
      if (!line.trim()) continue;
      const colon = line.indexOf(':');
      if (colon <= 0) { $('edit-error').hidden = false; $('edit-error').textContent = 'not a header line: ' + line; return; }
      headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
    }
    replay({ method: $('edit-method').value.trim(), path: $('edit-path').value.trim(), headers, body: $('edit-body').value })
      .then(() => { $('edit-form').hidden = true; })
      .catch((error) => { $('edit-error').hidden = false; $('edit-error').textContent = error.message; });
  });
  $('clear').addEventListener('click', () => {
    api('/api/requests', { method: 'DELETE', headers: { 'X-Udns-Inspector': '1' } }).then(() => {
      selected = null; current = null; $('detail').hidden = true; loadList();
    }).catch(() => {});
  });
  for (const id of ['filter-method', 'filter-status']) $(id).addEventListener('change', loadList);
  $('filter-q').addEventListener('input', scheduleList);
  $('filters').addEventListener('submit', (event) => { event.preventDefault(); loadList(); });

  function live() {
    if (typeof EventSource !== 'function') { setInterval(() => { scheduleList(); scheduleDetail(); }, 1000); return; }
    const events = new EventSource('/api/events');
    // Also after a reconnect: events sent while cut off were missed.
    events.addEventListener('open', () => { $('live').textContent = 'live'; $('live').classList.add('on'); scheduleList(); });
    events.addEventListener('error', () => { $('live').textContent = 'reconnecting…'; $('live').classList.remove('on'); });
    events.addEventListener('exchange', (event) => {
      scheduleList();
      try { if (JSON.parse(event.data).id === selected) scheduleDetail(); } catch (error) { /* ignore */ }
    });
    events.addEventListener('cleared', scheduleList);
  }
  live();
  loadList();
})();
`;
