import type http from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import createDavServer, { type AuthResponse, type Plugin } from 'nephele';
import NoAuthenticator from '@nephele/authenticator-none';
import type { AgentLogger } from '../agent-logger.js';
import type { ShareVisitor, WebdavHandler } from './share-server.js';
import type { SharePolicy } from './share-paths.js';
import { admitDavRequest, MAX_DAV_BODY_BYTES, type DavRefusal } from './webdav/dav-admission.js';
import { DavMetadataStore, DavStorageFullError, MAX_DAV_LOCK_TIMEOUT_MS } from './webdav/dav-metadata-store.js';
import { ShareDavAdapter } from './webdav/share-dav-adapter.js';
import { keepPropertyNamespacesApart } from './webdav/xml-namespaces.js';

const WRITE_METHODS = new Set(['PUT', 'POST', 'DELETE', 'COPY', 'MOVE', 'MKCOL', 'PROPPATCH']);
/** How xml2js (through sax) words a syntax error: nephele lets it through as a 500. */
const XML_SYNTAX_ERROR = /\nLine: \d+\nColumn: \d+\nChar: /;

/**
 * WebDAV for `--webdav` (class 1 and 2), served by nephele over the shared folder. ShareServer
 * has already applied expiry, the Host check, the password and parseSharePath, and answers
 * GET/HEAD/POST/PUT itself; this handler gets OPTIONS, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE,
 * DELETE, LOCK and UNLOCK. Each request passes admitDavRequest (the share's rules) before
 * nephele sees it, and nephele works through ShareDavAdapter (the same rules while it walks
 * folders). Never throws: every failure becomes a plain-text answer.
 */
export function createWebdavHandler(policy: SharePolicy, allowUpload: boolean, logger: AgentLogger): WebdavHandler {
  keepPropertyNamespacesApart();
  const metadata = new DavMetadataStore();
  const optionsPlugin: Plugin = {
    async preOptions(_request, _response, { complianceClasses, allowedMethods }) {
      // nephele lists "1, 3, 2"; clients look for 1 and 2, in this order.
      complianceClasses.sort();
      if (!allowUpload) allowedMethods.splice(0, allowedMethods.length, ...allowedMethods.filter((method) => !WRITE_METHODS.has(method)));
    },
  };
  // Whether symlinks are walked into depends on the method (see ShareDavAdapter).
  const walking = new ShareDavAdapter(policy, metadata, false);
  const linksAsLeaves = new ShareDavAdapter(policy, metadata, true);
  const app = createDavServer({
    adapter: async (request: Request) => (request.method === 'PROPFIND' ? walking : linksAsLeaves),
    authenticator: new NoAuthenticator(),
    plugins: [optionsPlugin],
  }, {
    maxLockTimeout: MAX_DAV_LOCK_TIMEOUT_MS,
    errorHandler: async (code, message, request, response, error) => answerError(code, message, request, response, error, logger),
  });
  app.disable('x-powered-by');
  // Errors nephele's own try/catch misses (its middleware) end here instead of Express's stack-trace page.
  app.use((error: unknown, request: Request, response: Response, _next: NextFunction) => {
    logger.warn({ err: error, method: request.method }, 'webdav request failed');
    if (response.headersSent) response.destroy();
    else sendText(request, response, 500, 'The share could not answer this WebDAV request.');
  });

  return (req, res, segments, visitor) => {
    // A visitor going away mid-body is everyday noise; nephele attaches no error listener itself.
    req.on('error', (error) => logger.debug({ err: error }, 'webdav visitor went away'));
    admitDavRequest(req, segments, policy, allowUpload)
      .then((refusal) => {
        if (refusal) {
          logger.debug({ method: req.method, status: refusal.status }, 'webdav request refused');
          return refuse(req, res, refusal);
        }
        limitUnsizedBody(req);
        serve(app, req, res, visitor);
      })
      .catch((error: unknown) => {
        logger.warn({ err: error, method: req.method }, 'webdav request failed');
        if (res.headersSent) res.destroy();
        else refuse(req, res, { status: 500, message: 'The share could not answer this WebDAV request.' });
      });
  };
}

function serve(app: (req: http.IncomingMessage, res: http.ServerResponse) => void, req: http.IncomingMessage, res: http.ServerResponse, visitor: ShareVisitor): void {
  // nephele writes absolute hrefs from Express's req.protocol, which would say http behind
  // the edge's TLS: give it the scheme the visitor actually used.
  Object.defineProperty(req, 'protocol', { value: visitor.secure ? 'https' : 'http', configurable: true });
  app(req, res);
}

/**
 * nephele buffers XML bodies whole; a chunked body has no Content-Length to refuse early, so
 * its bytes are counted as Node's HTTP parser hands them to the request (`push`, the Readable
 * source side) and the request is cut at MAX_DAV_BODY_BYTES. Listening for 'data' instead
 * would start the flow before nephele listens, and it would lose the first chunks.
 */
function limitUnsizedBody(req: http.IncomingMessage): void {
  if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] === undefined) return;
  const push = req.push.bind(req);
  let seen = 0;
  req.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (Buffer.isBuffer(chunk)) seen += chunk.length;
    if (seen <= MAX_DAV_BODY_BYTES) return push(chunk, encoding);
    req.destroy(new Error('WebDAV request body too large'));
    return false;
  };
}

/** nephele's error handler, replaced: its default sends stack traces unless NODE_ENV is production. */
async function answerError(code: number, message: string, request: Request, response: AuthResponse, error: Error | undefined, logger: AgentLogger): Promise<void> {
  try {
    if (code === 500 && error && XML_SYNTAX_ERROR.test(error.message)) {
      code = 400;
      message = 'The XML body is not well-formed.';
    }
    // The store's 507 is a limit reached (a visitor may be flooding LOCK), not a failure.
    const limit = error instanceof DavStorageFullError;
    if (code >= 500 && !limit) logger.warn({ err: error, method: request.method, status: code }, 'webdav request failed');
    else logger.debug({ method: request.method, status: code, reason: message }, 'webdav request declined');
    if (response.headersSent || response.destroyed) {
      response.end();
      return;
    }
    if (code < 400) {
      // 304 and friends: nephele attaches what the visitor needs to the error.
      const etag = (error as { etag?: string } | undefined)?.etag;
      if (etag) response.setHeader('ETag', etag);
      response.status(code).end();
      return;
    }
    // 5xx texts come from the file system (they may name paths on the PC): keep them in the log.
    sendText(request, response, code, code >= 500 && !limit ? 'The share could not answer this WebDAV request.' : message);
  } catch (failure) {
    logger.debug({ err: failure }, 'webdav error answer failed');
    response.destroy();
  }
}

function refuse(req: http.IncomingMessage, res: http.ServerResponse, refusal: DavRefusal): void {
  if (refusal.precondition) {
    const body = `<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:"><D:${refusal.precondition}/></D:error>\n`;
    return sendBody(req, res, refusal.status, 'application/xml; charset=utf-8', body);
  }
  sendText(req, res, refusal.status, refusal.message);
}

function sendText(req: http.IncomingMessage, res: http.ServerResponse, status: number, message: string): void {
  sendBody(req, res, status, 'text/plain; charset=utf-8', `${message}\n`);
}

function sendBody(req: http.IncomingMessage, res: http.ServerResponse, status: number, type: string, text: string): void {
  const body = Buffer.from(text);
  // An unread request body must not be parsed as the next request.
  if (!req.complete) res.setHeader('Connection', 'close');
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': body.length, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
  res.end(body);
}
