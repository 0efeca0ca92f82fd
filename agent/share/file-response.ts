import type http from 'node:http';
import path from 'node:path';
import contentDisposition from 'content-disposition';
import mime from 'mime-types';
import send from 'send';

/**
 * Types a browser shows inline without running anything from the file. Everything else (HTML,
 * SVG, every XML flavour, unknown types) is served with `Content-Security-Policy: sandbox`:
 * the page gets an opaque origin and no script, so a shared or uploaded file cannot act as the
 * share (read its other files, upload, use the visitor's login). PDF stays out of the sandbox
 * because Chromium refuses to show a PDF in a sandboxed document.
 */
const INERT_INLINE_TYPE = /^(?:image\/(?:png|jpeg|gif|webp|avif|bmp|x-icon|vnd\.microsoft\.icon)|audio\/[\w.+-]+|video\/[\w.+-]+|application\/pdf|text\/plain)(?:;|$)/i;

/**
 * Sends one file of a share with everything a download manager or a video player expects:
 * HEAD, a single `Range` (206, or 416 out of range), `ETag` and `Last-Modified` with
 * `If-None-Match` / `If-Modified-Since` / `If-Range`. `send` does the HTTP part; we add the
 * disposition (inline to view, attachment with `?download`) and the safety headers.
 */
export function sendShareFile(req: http.IncomingMessage, res: http.ServerResponse, realPath: string, downloadName: string, attachment: boolean): void {
  // send URL-decodes the path it is given: hand it the name encoded and the folder as root,
  // so names with `%` (and folders with `%` in their path) are read exactly as they are.
  const stream = send(req, encodeURIComponent(path.basename(realPath)), {
    root: path.dirname(realPath), dotfiles: 'allow', index: false, etag: true, lastModified: true, acceptRanges: true, maxAge: 0,
    // Forwarded to fs.createReadStream: fewer reads than its 64 KiB default, while a thousand
    // concurrent downloads still hold at most a few hundred MiB.
    highWaterMark: 256 * 1024,
  } as send.SendOptions);
  stream.on('headers', (response: http.ServerResponse) => {
    // Set here, before send would: the sandbox decision needs the type send would pick.
    const type = mime.contentType(path.extname(realPath)) || 'application/octet-stream';
    response.setHeader('Content-Type', type);
    if (!INERT_INLINE_TYPE.test(type)) response.setHeader('Content-Security-Policy', 'sandbox');
    response.setHeader('Content-Disposition', contentDisposition(downloadName, { type: attachment ? 'attachment' : 'inline' }));
    response.setHeader('X-Content-Type-Options', 'nosniff');
    // Revalidate every time: the file may change on the PC at any moment.
    response.setHeader('Cache-Control', 'no-cache');
  });
  stream.on('error', (error: { status?: number; message: string }) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const status = error.status ?? 500;
    const reason = status === 404 ? 'not found' : status === 416 ? 'range not satisfiable' : 'cannot read this file';
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${status} ${reason}\n`);
  });
  stream.pipe(res);
}
