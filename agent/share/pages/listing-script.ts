/**
 * The listing page's inline script: progressive enhancement only; the page works without it.
 *
 * - Dates: rewrites each `<time datetime>` (rendered in UTC) in the visitor's zone and language.
 * - Upload (when the page has `#upload-form`): picker or drag-and-drop anywhere, several files,
 *   one XMLHttpRequest per file with its own progress bar, `Accept: application/json`. A name
 *   that already exists in the listing asks `confirm()` once per batch: OK sends `overwrite=1`
 *   (before the file part, as the contract requires), Cancel lets the server pick a new name.
 *   When every upload succeeded the listing reloads and highlights what arrived; otherwise the
 *   errors stay on screen.
 *
 * Plain ES2017 in a string (no build step for browser code); a constant, so the page's
 * Content-Security-Policy can allow it by hash.
 */
export const LISTING_SCRIPT = String.raw`(function () {
  'use strict';
  var each = function (selector, fn) { Array.prototype.forEach.call(document.querySelectorAll(selector), fn); };
  var dateFormat = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  each('time[datetime]', function (el) {
    var date = new Date(el.getAttribute('datetime'));
    if (isNaN(date.getTime())) return;
    el.title = el.textContent;
    el.textContent = dateFormat.format(date);
  });

  var FRESH_KEY = 'udns-uploaded:' + location.pathname;
  try {
    var fresh = JSON.parse(sessionStorage.getItem(FRESH_KEY) || '[]');
    sessionStorage.removeItem(FRESH_KEY);
    each('#listing tr[data-name]', function (row) {
      if (fresh.indexOf(row.getAttribute('data-name')) !== -1) row.classList.add('fresh');
    });
  } catch (e) { /* storage disabled: no highlight, nothing else lost */ }

  var form = document.getElementById('upload-form');
  if (!form || !window.FormData) return;
  document.documentElement.classList.add('js-upload');
  var input = form.querySelector('input[type=file]');
  var overwriteBox = form.querySelector('input[name=overwrite]');
  var items = document.getElementById('upload-list');
  var status = document.getElementById('upload-status');
  var overlay = document.getElementById('drop-overlay');
  var existing = {};
  each('#listing tr[data-type=file]', function (row) { existing[row.getAttribute('data-name')] = true; });
  var queue = [], busy = false, saved = [], failed = 0;

  function size(bytes) {
    var units = ['B', 'KB', 'MB', 'GB', 'TB'], unit = 0;
    while (bytes >= 1024 && unit < units.length - 1) { bytes /= 1024; unit++; }
    return (unit === 0 || bytes >= 10 ? Math.round(bytes) : bytes.toFixed(1)) + ' ' + units[unit];
  }
  function say(message, isError) {
    status.textContent = message;
    status.className = 'alert' + (isError ? ' alert-error' : '');
    status.hidden = false;
  }

  function start(files) {
    if (!files.length) return;
    status.hidden = true;
    var replaceAll = overwriteBox.checked;
    var clashes = files.filter(function (f) { return existing[f.name] === true; }).map(function (f) { return f.name; });
    var replace = replaceAll;
    if (!replaceAll && clashes.length) {
      replace = window.confirm((clashes.length === 1
        ? '"' + clashes[0] + '" already exists in this folder.'
        : clashes.length + ' files already exist in this folder: ' + clashes.slice(0, 5).join(', ') + (clashes.length > 5 ? ', …' : '') + '.')
        + '\n\nOK replaces ' + (clashes.length === 1 ? 'it' : 'them') + '. Cancel keeps both (the upload gets a new name).');
    }
    files.forEach(function (file) {
      queue.push({ file: file, overwrite: replaceAll || (replace && existing[file.name] === true), view: addItem(file) });
    });
    next();
  }

  function addItem(file) {
    var li = document.createElement('li');
    var name = document.createElement('span');
    var bar = document.createElement('progress');
    var state = document.createElement('span');
    name.className = 'up-name';
    name.textContent = file.name;
    bar.max = 1;
    bar.value = 0;
    state.className = 'up-state';
    state.textContent = 'Waiting · ' + size(file.size);
    li.appendChild(name);
    li.appendChild(bar);
    li.appendChild(state);
    items.appendChild(li);
    items.hidden = false;
    return { li: li, bar: bar, state: state };
  }

  function next() {
    if (busy) return;
    var job = queue.shift();
    if (!job) { finish(); return; }
    busy = true;
    send(job, function () { busy = false; next(); });
  }

  function send(job, done) {
    var data = new FormData();
    if (job.overwrite) data.append('overwrite', '1');
    data.append('file', job.file, job.file.name);
    var xhr = new XMLHttpRequest();
    xhr.open('POST', form.action);
    xhr.setRequestHeader('Accept', 'application/json');
    job.view.state.textContent = '0 % of ' + size(job.file.size);
    xhr.upload.onprogress = function (e) {
      if (!e.lengthComputable) return;
      job.view.bar.value = e.loaded / e.total;
      job.view.state.textContent = Math.floor(100 * e.loaded / e.total) + ' % of ' + size(job.file.size);
    };
    xhr.onload = function () {
      if (xhr.status >= 200 && xhr.status < 300) {
        var name = job.file.name;
        try { name = JSON.parse(xhr.responseText).saved[0].name || name; } catch (e) { /* not JSON: keep the sent name */ }
        existing[name] = true;
        saved.push(name);
        job.view.bar.value = 1;
        job.view.li.className = 'done';
        job.view.state.textContent = name === job.file.name ? 'Uploaded' : 'Uploaded as ' + name;
      } else {
        fail(job, describe(xhr));
      }
      done();
    };
    xhr.onerror = function () { fail(job, 'The connection was lost; check the network and try again.'); done(); };
    xhr.send(data);
  }

  function fail(job, message) {
    failed++;
    job.view.li.className = 'failed';
    job.view.state.textContent = message;
  }

  function describe(xhr) {
    var detail = '';
    var type = xhr.getResponseHeader('Content-Type') || '';
    try {
      if (type.indexOf('json') !== -1) {
        var body = JSON.parse(xhr.responseText);
        detail = body.message || (typeof body.error === 'string' ? body.error : body.error && body.error.message) || '';
      } else if (type.indexOf('html') !== -1) {
        var page = new DOMParser().parseFromString(xhr.responseText, 'text/html');
        var p = page.querySelector('p') || page.body;
        detail = p ? p.textContent : '';
      } else {
        detail = xhr.responseText;
      }
    } catch (e) { /* unreadable body: fall back to the status */ }
    var hints = {
      401: 'You are not logged in any more; reload the page to log in.',
      403: 'Uploading is not allowed here.',
      404: 'This folder does not exist any more.',
      413: 'The file is too large for this share.',
      507: 'The sharing computer is out of disk space.'
    };
    return 'Failed (' + xhr.status + '): ' + (String(detail).trim().slice(0, 300) || hints[xhr.status] || xhr.statusText || 'the server refused the upload.');
  }

  function finish() {
    if (failed === 0 && saved.length > 0) {
      try { sessionStorage.setItem(FRESH_KEY, JSON.stringify(saved)); } catch (e) { /* no highlight */ }
      location.reload();
      return;
    }
    if (failed > 0) {
      say(failed + (failed === 1 ? ' upload' : ' uploads') + ' failed (see below).' + (saved.length ? ' Reload the page to see the ' + saved.length + ' that arrived.' : ''), true);
    }
    saved = [];
    failed = 0;
  }

  input.addEventListener('change', function () {
    var files = Array.prototype.slice.call(input.files);
    input.value = '';
    start(files);
  });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    if (input.files.length) input.dispatchEvent(new Event('change'));
    else input.click();
  });

  var depth = 0;
  function carriesFiles(e) { return e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types, 'Files') !== -1; }
  document.addEventListener('dragenter', function (e) {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    depth++;
    overlay.hidden = false;
  });
  document.addEventListener('dragover', function (e) {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  });
  document.addEventListener('dragleave', function (e) {
    if (!carriesFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) overlay.hidden = true;
  });
  document.addEventListener('drop', function (e) {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    depth = 0;
    overlay.hidden = true;
    var files = [], folders = 0;
    if (e.dataTransfer.items) {
      Array.prototype.forEach.call(e.dataTransfer.items, function (item) {
        if (item.kind !== 'file') return;
        var entry = item.webkitGetAsEntry ? item.webkitGetAsEntry() : null;
        var file = item.getAsFile();
        if (entry && entry.isDirectory) folders++;
        else if (file) files.push(file);
      });
    } else {
      files = Array.prototype.slice.call(e.dataTransfer.files);
    }
    start(files);
    if (folders) say('Folders cannot be uploaded here; open the folder and drop the files inside it.', true);
  });
})();
`;
