import { escapeHtml } from './error-page.js';

/** The apex page: what this edge is and how to put a PC on it. */
export function renderLandingPage(apexUrl: string, domain: string, search = false): string {
  const server = escapeHtml(apexUrl);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>udns · ${escapeHtml(domain)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:10vh auto;padding:0 1rem;color:#222}
code,pre{background:#f4f4f4;border-radius:4px}pre{padding:.75rem;overflow-x:auto}</style></head>
<body><h1>udns on ${escapeHtml(domain)}</h1>
<p>This edge gives home PCs a name under <b>${escapeHtml(domain)}</b> and carries visitors to them through an outbound tunnel: no open port, no public address needed.</p>
<pre>udns login &lt;token&gt; --server ${server}
udns http 3000 --name alice    # http://alice.${escapeHtml(domain)} reaches localhost:3000
udns tcp 22                    # a public TCP port reaches localhost:22</pre>
${search ? '<p><a href="/search">Search the folders members share</a> (<code>udns share DIR --list</code> puts yours in it).</p>\n' : ''}</body></html>
`;
}
