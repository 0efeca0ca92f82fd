import type { IncomingHttpHeaders } from 'node:http';

/** True when the client prefers HTML (a browser) over plain text (curl, scripts). */
export function wantsHtml(headers: IncomingHttpHeaders): boolean {
  const accept = headers.accept ?? '';
  return accept.includes('text/html');
}

/** An error page as a complete body plus its content type. */
export interface RenderedPage {
  contentType: string;
  body: string;
}

/** Renders a short error page: HTML for browsers, one plain line otherwise. */
export function renderErrorPage(status: number, title: string, detail: string, html: boolean): RenderedPage {
  if (!html) return { contentType: 'text/plain; charset=utf-8', body: `${status} ${title}: ${detail}\n` };
  return {
    contentType: 'text/html; charset=utf-8',
    body: `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:15vh auto;padding:0 1rem;color:#222}
h1{font-size:1.6rem;margin:0 0 .5rem}p{color:#555}small{color:#999}</style></head>
<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(detail)}</p><small>${status} · udns</small></body></html>
`,
  };
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
