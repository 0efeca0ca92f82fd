import type http from 'node:http';
import contentDisposition from 'content-disposition';
import send from 'send';

/** Files a browser may run script in: served sandboxed, so a shared page cannot act as the share. */
const SCRIPTABLE_FILE = /\.(?:html?|xhtml|xht|shtml|svgz?|xml|xsl|xslt|mht|mhtml)$/i;

/**
 * Sends one file of a share with everything a download manager or a video player expects:
 * HEAD, a single `Range` (206, or 416 out of range), `ETag` and `Last-Modified` with
 * `If-None-Match` / `If-Modified-Since` / `If-Range`. `send` does the HTTP part; we add the
 * disposition (inline to view, attachment with `?download`) and the safety headers.
 */
export function sendShareFile(req: http.IncomingMessage, res: http.ServerResponse, realPath: string, downloadName: string, attachment: boolean): void {
  const stream = send(req, realPath, { dotfiles: 'allow', index: false, etag: true, lastModified: true, acceptRanges: true, maxAge: 0, highWaterMark: 1024 * 1024 } as send.SendOptions);
  stream.on('headers', (response: http.ServerResponse) => {
    response.setHeader('Content-Disposition', contentDisposition(downloadName, { type: attachment ? 'attachment' : 'inline' }));
    response.setHeader('X-Content-Type-Options', 'nosniff');
    // send sets Content-Type only after this event: decide by the name, as send does.
    if (SCRIPTABLE_FILE.test(realPath)) response.setHeader('Content-Security-Policy', 'sandbox');
    // Revalidate every time: the file may change on the PC at any moment.
    response.setHeader('Cache-Control', 'no-cache');
  });
  stream.on('error', (error: { status?: number; message: string }) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const status = error.status ?? 500;
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${status} ${status === 404 ? 'not found' : 'cannot read this file'}\n`);
  });
  stream.pipe(res);
}
