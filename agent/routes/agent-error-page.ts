/** An error page the agent answers visitors with: HTML for browsers, one line otherwise. */
export function renderAgentErrorPage(status: number, title: string, detail: string, html: boolean): { contentType: string; body: string } {
  if (!html) return { contentType: 'text/plain; charset=utf-8', body: `${status} ${title}: ${detail}\n` };
  const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return {
    contentType: 'text/html; charset=utf-8',
    body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escape(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:15vh auto;padding:0 1rem;color:#222}p{color:#555}small{color:#999}</style></head>
<body><h1>${escape(title)}</h1><p>${escape(detail)}</p><small>${status} · udns agent</small></body></html>\n`,
  };
}
