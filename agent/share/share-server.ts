import fsp from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import busboy from 'busboy';
import contentDisposition from 'content-disposition';
import {
  SHARE_LOGIN_PATH,
  SHARE_LOGOUT_PATH,
  SHARE_QUERY,
  SHARE_RESERVED_PREFIX,
  type ShareChecksum,
  type ShareListing,
  type ShareUploadResult,
} from '../../protocol/index.js';
import type { AgentLogger } from '../agent-logger.js';
import type { ShareExchange } from '../exchange/share-exchange.js';
import { renderAgentErrorPage } from '../routes/agent-error-page.js';
import { describeEntries, visibleEntries, type ListingOrder, type ListingSort } from './directory-listing.js';
import { FileChecksums } from './file-checksums.js';
import type { ServedFile } from './served-file-meter.js';
import { sendShareFile } from './file-response.js';
import { sendFolderZip, zipNameFor } from './folder-zip.js';
import { LISTING_PAGE_CSP, renderListingPage } from './pages/listing-page.js';
import { LOGIN_PAGE_CSP, renderLoginPage } from './pages/login-page.js';
import { PasswordThrottle } from './password-throttle.js';
import { SharePassword } from './share-password.js';
import { isAcceptableName, parseSharePath, resolveExisting, resolveFolderForWrite, resolveParentForWrite, type SharePolicy } from './share-paths.js';
import { writeUploadedFile, type WrittenFile } from './upload-writer.js';

/** Who sent a request, as the tunnel (or the direct listener) told the share. */
export interface ShareVisitor {
  readonly remoteAddress: string;
  readonly secure: boolean;
  /** The verified custom domain the edge routed this visitor by (server/domains/): served beside the share's name. */
  readonly customHost?: string;
}

/** A WebDAV handler for the methods the browser part does not answer (see webdav-bridge.ts). */
export type WebdavHandler = (req: http.IncomingMessage, res: http.ServerResponse, segments: string[], visitor: ShareVisitor) => void;

export interface ShareServerOptions {
  readonly policy: SharePolicy;
  readonly password: string | null;
  readonly allowUpload: boolean;
  /** When the share stops answering (ms since the epoch), or null. */
  readonly expiresAtMs: number | null;
  readonly webdav: WebdavHandler | null;
  readonly logger: AgentLogger;
  /** Finds who sent a request (by its connection). */
  readonly visitorOf: (req: http.IncomingMessage) => ShareVisitor;
  /** Told of each file about to be sent for a GET (transfer records: served-file-meter.ts). */
  readonly fileSent?: (req: http.IncomingMessage, res: http.ServerResponse, file: ServedFile) => void;
  /** Prices and sales (`--price`, agent/exchange/): priced files are never sent in clear. */
  readonly exchange?: ShareExchange | null;
  /**
   * The route has `--basic-auth`: the Authorization header is the route's (checked and removed
   * before this server sees the request), so the share's own password is asked through its
   * login page only, never with a Basic challenge a browser would answer with the wrong secret.
   */
  readonly basicAuthTaken?: boolean;
}

/** What one browser upload may hold. */
const UPLOAD_LIMITS = { fields: 20, fieldSize: 1024, files: 1000, parts: 1100 } as const;

const WEBDAV_METHODS = new Set(['OPTIONS', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'DELETE', 'LOCK', 'UNLOCK']);

/**
 * The HTTP side of one shared folder (protocol/share-api.ts is the contract): listings,
 * files, ZIPs, uploads, the password gate and expiry. It is a plain `(req, res)` handler,
 * fed by ShareRoute from tunnel streams; no port is opened on the PC.
 *
 * Every path goes through parseSharePath (refuses `..` in any encoding before touching the
 * disk) and then resolveExisting / resolveParentForWrite (refuse symlinks that leave the share).
 */
export class ShareServer {
  /** The public host name, once the edge published the share: other Hosts get 421. */
  publicHost: string | null = null;
  private readonly password: SharePassword | null;
  private readonly throttle = new PasswordThrottle();
  private readonly checksums = new FileChecksums();

  constructor(private readonly options: ShareServerOptions) {
    this.password = options.password === null ? null : new SharePassword(options.password, options.policy.root);
  }

  /** The `(req, res)` handler. Never throws: every failure becomes a response. */
  readonly handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    this.route(req, res).catch((error: unknown) => {
      this.options.logger.warn({ err: error, method: req.method }, 'share request failed');
      if (!res.headersSent) this.fail(req, res, 500, 'Share error', 'The share could not answer this request.');
      else res.destroy();
    });
  };

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const { expiresAtMs } = this.options;
    if (expiresAtMs !== null && Date.now() >= expiresAtMs) {
      return this.fail(req, res, 410, 'Share expired', 'This share has expired. Ask its owner for a new link.');
    }
    const target = originForm(req);
    const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
    if (this.publicHost !== null && host !== this.publicHost && host !== this.options.visitorOf(req).customHost) {
      return this.fail(req, res, 421, 'Misdirected request', `This connection serves ${this.publicHost}.`);
    }
    if (!target.startsWith('/')) {
      if (req.method === 'OPTIONS' && target === '*') return this.sendOptions(res);
      return this.fail(req, res, 400, 'Bad request', 'The request target must be a path.');
    }
    const queryAt = target.indexOf('?');
    const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
    const query = new URLSearchParams(queryAt === -1 ? '' : target.slice(queryAt + 1));

    if (rawPath.startsWith(SHARE_RESERVED_PREFIX)) return this.serveReserved(req, res, rawPath, query);
    // A sale's sealed file needs no password: it is useless without the key only its buyer
    // gets, and the buyer already proved who they are to the edge (the sale id is the secret).
    if (query.has(SHARE_QUERY.sale) && (req.method === 'GET' || req.method === 'HEAD')) {
      const notFound = (): void => this.fail(req, res, 404, 'Not found', 'No sale of this file is open here.');
      if (!this.options.exchange) return notFound();
      return this.options.exchange.serveSale(req, res, this.options.policy, rawPath, query, (status, title, detail) => this.fail(req, res, status, title, detail));
    }
    if (!this.authorized(req, res, target)) return;

    const segments = parseSharePath(rawPath, this.options.policy.showHidden);
    if (!Array.isArray(segments)) {
      this.options.logger.debug({ reason: segments.reason }, 'path refused');
      return segments.status === 404
        ? this.fail(req, res, 404, 'Not found', 'Nothing is shared at this address.')
        : this.fail(req, res, 400, 'Bad request', `This path is not allowed (${segments.reason}).`);
    }
    const method = req.method ?? 'GET';
    if (method === 'GET' || method === 'HEAD') return this.serveRead(req, res, rawPath, segments, query);
    if (method === 'POST') return this.serveUpload(req, res, rawPath, segments);
    if (method === 'PUT') return this.servePut(req, res, segments);
    if ((method === 'COPY' || method === 'MOVE') && this.options.exchange?.hasPrices && this.options.webdav) {
      const refused = await this.options.exchange.refuseCopy(req, res, this.options.policy, segments, this.publicUrl(req, rawPath), (status, title, detail) => this.fail(req, res, status, title, detail));
      if (refused) return;
    }
    if (this.options.webdav && WEBDAV_METHODS.has(method)) return this.options.webdav(req, res, segments, this.options.visitorOf(req));
    if (method === 'OPTIONS') return this.sendOptions(res);
    res.setHeader('Allow', this.allowedMethods());
    return this.fail(req, res, 405, 'Method not allowed', `${method} is not supported by this share.`);
  }

  // ---- reading ----------------------------------------------------------------------------

  private async serveRead(req: http.IncomingMessage, res: http.ServerResponse, rawPath: string, segments: string[], query: URLSearchParams): Promise<void> {
    const found = await resolveExisting(this.options.policy, segments);
    if (!found) return this.fail(req, res, 404, 'Not found', 'Nothing is shared at this address.');
    if (found.stats.isDirectory()) {
      if (!rawPath.endsWith('/')) {
        const search = query.size > 0 ? `?${query.toString()}` : '';
        res.writeHead(301, { Location: `${rawPath}/${search}`, 'Content-Length': 0 }).end();
        return;
      }
      if (query.has(SHARE_QUERY.zip)) {
        const zipName = zipNameFor(segments, this.publicHost ?? 'share');
        if (req.method === 'HEAD') {
          res.writeHead(200, { 'Content-Type': 'application/zip', 'Content-Disposition': contentDisposition(zipName, { type: 'attachment' }) }).end();
          return;
        }
        const exchange = this.options.exchange;
        // Priced files stay out of ZIPs: the ZIP would be a way around the price.
        const folderPath = segments.length === 0 ? '/' : `/${segments.join('/')}/`;
        const skip = exchange?.hasPrices ? (name: string, real: string) => exchange.priceOfFile(`${folderPath}${name}`, real, this.options.policy) !== null : undefined;
        return sendFolderZip(res, this.options.policy, found.real, zipName, this.options.logger, skip);
      }
      return this.sendListing(req, res, found.real, segments, query);
    }
    // `/file.txt/` names a folder that does not exist.
    if (!found.stats.isFile() || rawPath.endsWith('/')) return this.fail(req, res, 404, 'Not found', 'Nothing is shared at this address.');
    const sharePath = `/${segments.join('/')}`;
    const price = this.options.exchange?.priceOfFile(sharePath, found.real, this.options.policy) ?? null;
    if (price !== null) return this.options.exchange!.sendPaymentRequired(req, res, sharePath, price, this.publicUrl(req, rawPath));
    if (query.get(SHARE_QUERY.checksum) === 'sha256') {
      const digest = await this.checksums.digest(found.real, found.stats);
      // The ETag send gives the same file (the etag package: size and mtime in ms, both hex).
      const etag = `W/"${found.stats.size.toString(16)}-${found.stats.mtime.getTime().toString(16)}"`;
      const body: ShareChecksum = { algorithm: 'sha256', digest, size: found.stats.size, etag };
      return this.sendJson(res, 200, body);
    }
    if (query.has(SHARE_QUERY.checksum)) return this.fail(req, res, 400, 'Bad request', 'The only checksum offered is sha256.');
    if (req.method === 'GET') {
      const { real, stats } = found;
      this.options.fileSent?.(req, res, { path: `/${segments.join('/')}`, stats, digest: () => this.checksums.digest(real, stats) });
    }
    sendShareFile(req, res, found.real, segments.at(-1)!, query.has(SHARE_QUERY.download));
  }

  private async sendListing(req: http.IncomingMessage, res: http.ServerResponse, folder: string, segments: string[], query: URLSearchParams): Promise<void> {
    const sort = (['name', 'size', 'modified'] as const).find((key) => key === query.get(SHARE_QUERY.sort)) ?? 'name';
    const order: ListingOrder = query.get(SHARE_QUERY.order) === 'desc' ? 'desc' : 'asc';
    const sharePath = segments.length === 0 ? '/' : `/${segments.join('/')}/`;
    const visible = await visibleEntries(this.options.policy, folder);
    const described = describeEntries(visible, sort as ListingSort, order);
    const exchange = this.options.exchange;
    const entries = exchange ? exchange.priced(described, sharePath, new Map(visible.map((entry) => [entry.name, entry.real])), this.options.policy) : described;
    if (wantsJson(req, query)) {
      const listing: ShareListing = { path: sharePath, entries, allowUpload: this.options.allowUpload };
      return this.sendJson(res, 200, listing);
    }
    const uploaded = Number(query.get('uploaded'));
    const html = renderListingPage({
      title: this.publicHost ?? path.basename(this.options.policy.root),
      path: sharePath,
      entries,
      sort,
      order,
      allowUpload: this.options.allowUpload,
      passwordProtected: this.password !== null,
      expiresAt: this.options.expiresAtMs === null ? undefined : new Date(this.options.expiresAtMs),
      notice: Number.isInteger(uploaded) && uploaded > 0 ? `Uploaded ${uploaded} file${uploaded === 1 ? '' : 's'}.` : undefined,
    });
    res.setHeader('Content-Security-Policy', LISTING_PAGE_CSP);
    this.sendText(res, 200, 'text/html; charset=utf-8', html, req.method === 'HEAD');
  }

  // ---- paid files: agent/exchange/share-exchange.ts decides -------------------------------

  /** The URL a visitor used for `rawPath` (for the 402's `udns get <url>`). */
  private publicUrl(req: http.IncomingMessage, rawPath: string): string {
    const scheme = this.options.visitorOf(req).secure ? 'https' : 'http';
    return `${scheme}://${req.headers.host ?? this.publicHost ?? 'localhost'}${rawPath}`;
  }

  // ---- writing ----------------------------------------------------------------------------

  /** `POST /folder/` with multipart/form-data: the browser's upload. */
  private async serveUpload(req: http.IncomingMessage, res: http.ServerResponse, rawPath: string, segments: string[]): Promise<void> {
    if (!this.options.allowUpload) return this.readOnly(req, res);
    if (isCrossSite(req)) return this.fail(req, res, 403, 'Forbidden', 'Uploads must come from this share\'s own page.');
    const folder = await resolveFolderForWrite(this.options.policy, segments);
    if (!folder) return this.fail(req, res, 404, 'Not found', 'Uploads go to a shared folder.');
    if (!/^multipart\/form-data\b/i.test(req.headers['content-type'] ?? '')) {
      return this.fail(req, res, 415, 'Unsupported upload', 'Send the files as multipart/form-data.');
    }
    // Gone during the awaits above: its 'close' is past, so the wait below would never end.
    if (req.destroyed) return;
    let parser: busboy.Busboy;
    try {
      // Browsers send UTF-8 file names; busboy's default (latin1) would garble Korean names.
      parser = busboy({ headers: req.headers, defParamCharset: 'utf8', limits: UPLOAD_LIMITS });
    } catch {
      return this.fail(req, res, 400, 'Bad upload', 'The upload could not be read (multipart boundary missing).');
    }
    let overwrite = false;
    let tooMany = false;
    const writes: Promise<WrittenFile & { sent: string }>[] = [];
    const refused: string[] = [];
    parser.on('field', (name, value) => {
      if (name === 'overwrite') overwrite = value === '1' || value === 'true' || value === 'on';
    });
    parser.on('file', (_field, stream, info) => {
      // A broken body destroys the part's stream with an error: the writer's pipeline reports
      // it for accepted parts; for refused ones nobody else listens, and an unheard error event
      // would end the agent.
      stream.on('error', () => {});
      const sent = info.filename ?? '';
      if (!isAcceptableName(sent, this.options.policy.showHidden)) {
        refused.push(sent);
        stream.resume();
        return;
      }
      writes.push(writeUploadedFile(folder, sent, stream, overwrite).then((file) => ({ ...file, sent })));
    });
    const noteLimit = (): void => { tooMany = true; };
    parser.on('filesLimit', noteLimit);
    parser.on('partsLimit', noteLimit);
    parser.on('fieldsLimit', noteLimit);
    const finished = new Promise<void>((resolve, reject) => {
      parser.once('close', resolve);
      parser.once('error', reject);
      // The visitor went away mid-body: busboy must hear it, or the part being written waits
      // forever with its temp file open. Destroying it fails that part's stream, and its writer
      // removes the temp file.
      req.once('close', () => {
        if (req.complete) return;
        const error = new Error('upload aborted');
        parser.destroy(error);
        reject(error);
      });
    });
    req.pipe(parser);
    try {
      await finished;
    } catch (error) {
      req.unpipe(parser);
      await Promise.allSettled(writes);
      this.options.logger.debug({ err: error }, 'upload broken');
      if (canAnswer(req, res)) this.fail(req, res, 400, 'Upload failed', 'The upload was cut off; nothing partial was kept.');
      return;
    }
    const results = await Promise.allSettled(writes);
    const saved = results.flatMap((result) => result.status === 'fulfilled' ? [{ sent: result.value.sent, name: result.value.name, size: result.value.size }] : []);
    const failures = results.filter((result) => result.status === 'rejected');
    for (const failure of failures) this.options.logger.warn({ err: (failure as PromiseRejectedResult).reason }, 'upload write failed');
    this.options.logger.info({ files: saved.length, refused: refused.length }, 'upload');
    if (refused.length > 0 || failures.length > 0 || tooMany) {
      const problem = refused.length > 0 ? `names not allowed: ${refused.map((name) => JSON.stringify(name)).join(', ')}`
        : tooMany ? `at most ${UPLOAD_LIMITS.files} files per upload; the rest were not saved`
          : 'a file could not be written on the PC';
      if (wantsJson(req, new URLSearchParams())) return this.sendJson(res, 400, { error: problem, saved });
      return this.fail(req, res, 400, 'Upload incomplete', `Saved ${saved.length} file(s); ${problem}.`);
    }
    if (wantsJson(req, new URLSearchParams())) {
      const body: ShareUploadResult = { saved };
      return this.sendJson(res, 200, body);
    }
    res.writeHead(303, { Location: `${rawPath.endsWith('/') ? rawPath : `${rawPath}/`}?uploaded=${saved.length}`, 'Content-Length': 0 }).end();
  }

  /** `PUT /folder/name`: one file as the raw body (curl -T, WebDAV clients). Replaces like WebDAV says. */
  private async servePut(req: http.IncomingMessage, res: http.ServerResponse, segments: string[]): Promise<void> {
    if (!this.options.allowUpload) return this.readOnly(req, res);
    const name = segments.at(-1);
    const place = await resolveParentForWrite(this.options.policy, segments);
    if (!name || !place) return this.fail(req, res, 409, 'Conflict', 'The folder to put this file in does not exist.');
    const entry = await fsp.lstat(place.target).catch(() => null);
    if (entry?.isDirectory()) return this.fail(req, res, 405, 'Method not allowed', 'A folder has this name.');
    if (entry && !entry.isFile()) {
      // A link (inside or leading out of the share) or a special file: writing "through" it
      // would land elsewhere, and replacing it would destroy what the owner made.
      return this.fail(req, res, 409, 'Conflict', 'This name is a link or a special file; it is not replaced.');
    }
    if (entry && req.headers['if-none-match'] === '*') return this.fail(req, res, 412, 'Precondition failed', 'A file with this name exists.');
    try {
      const written = await writeUploadedFile(place.folder, name, req, true);
      res.writeHead(written.created ? 201 : 204, { 'Content-Length': 0 }).end();
    } catch (error) {
      this.options.logger.debug({ err: error }, 'put failed');
      if (canAnswer(req, res)) this.fail(req, res, 500, 'Upload failed', `The file could not be written (${(error as NodeJS.ErrnoException).code ?? 'error'}); nothing partial was kept.`);
    }
  }

  private readOnly(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.fail(req, res, 403, 'Read-only share', 'This share is read-only; its owner can allow uploads with --allow-upload.');
  }

  // ---- password ---------------------------------------------------------------------------

  /** True when the request may go on; otherwise it has been answered (401, 303 to the form, 429). */
  private authorized(req: http.IncomingMessage, res: http.ServerResponse, target: string): boolean {
    if (!this.password) return true;
    const visitor = this.options.visitorOf(req);
    const retryAfter = this.throttle.retryAfterSeconds(visitor.remoteAddress);
    const hasBasic = req.headers.authorization !== undefined;
    // A throttled guesser gets no answer on its password, not even a right one.
    const credentials = retryAfter > 0 && hasBasic ? 'throttled' : this.password.check(req);
    if (credentials === 'valid') return true;
    if (credentials === 'throttled') {
      res.setHeader('Retry-After', retryAfter);
      this.fail(req, res, 429, 'Too many attempts', `Too many wrong passwords; try again in ${retryAfter} s.`);
      return false;
    }
    if (credentials === 'wrong') this.throttle.recordFailure(visitor.remoteAddress);
    if (prefersHtml(req) && (req.method === 'GET' || req.method === 'HEAD') && credentials === 'absent') {
      res.writeHead(303, { Location: `${SHARE_LOGIN_PATH}?next=${encodeURIComponent(target)}`, 'Content-Length': 0 }).end();
      return false;
    }
    if (this.options.basicAuthTaken) {
      this.fail(req, res, 401, 'Password required', `This share also needs its own password: log in at ${SHARE_LOGIN_PATH}.`);
      return false;
    }
    res.setHeader('WWW-Authenticate', 'Basic realm="udns share", charset="UTF-8"');
    this.fail(req, res, 401, 'Password required', credentials === 'wrong' ? 'Wrong password.' : 'This share needs a password (HTTP Basic, any user name).');
    return false;
  }

  /** The login form and logout, under the reserved prefix no shared file can take. */
  private async serveReserved(req: http.IncomingMessage, res: http.ServerResponse, rawPath: string, query: URLSearchParams): Promise<void> {
    const title = this.publicHost ?? path.basename(this.options.policy.root);
    const secure = this.options.visitorOf(req).secure;
    if (req.method === 'POST' && isCrossSite(req)) return this.fail(req, res, 403, 'Forbidden', 'Log in from this share\'s own page.');
    if (rawPath === SHARE_LOGOUT_PATH && req.method === 'POST') {
      res.writeHead(303, { Location: '/', 'Set-Cookie': SharePassword.clearedCookie(secure), 'Content-Length': 0 }).end();
      return;
    }
    if (rawPath !== SHARE_LOGIN_PATH || !this.password) return this.fail(req, res, 404, 'Not found', 'Nothing is shared at this address.');
    if (req.method === 'GET' || req.method === 'HEAD') {
      const next = safeNext(query.get('next'));
      return this.sendLoginPage(res, 200, { title, next }, req.method === 'HEAD');
    }
    if (req.method !== 'POST') return this.fail(req, res, 405, 'Method not allowed', 'Use the login form.');
    const form = await readSmallForm(req);
    if (form === null) return this.fail(req, res, 413, 'Too large', 'The login form is too large.');
    const next = safeNext(form.get('next'));
    const address = this.options.visitorOf(req).remoteAddress;
    const retryAfter = this.throttle.retryAfterSeconds(address);
    if (retryAfter > 0) {
      res.setHeader('Retry-After', retryAfter);
      return this.sendLoginPage(res, 429, { title, next, retryAfterSeconds: retryAfter }, false);
    }
    if (!this.password.matches(form.get('password') ?? '')) {
      this.throttle.recordFailure(address);
      return this.sendLoginPage(res, 401, { title, next, error: 'Wrong password' }, false);
    }
    res.writeHead(303, { Location: next, 'Set-Cookie': this.password.sessionCookie(secure, this.options.expiresAtMs), 'Content-Length': 0 }).end();
  }

  // ---- answers ----------------------------------------------------------------------------

  private sendLoginPage(res: http.ServerResponse, status: number, model: Parameters<typeof renderLoginPage>[0], headOnly: boolean): void {
    res.setHeader('Content-Security-Policy', LOGIN_PAGE_CSP);
    this.sendText(res, status, 'text/html; charset=utf-8', renderLoginPage(model), headOnly);
  }

  private allowedMethods(): string {
    const methods = ['GET', 'HEAD', 'OPTIONS'];
    if (this.options.allowUpload) methods.push('POST', 'PUT');
    return methods.join(', ');
  }

  private sendOptions(res: http.ServerResponse): void {
    res.writeHead(204, { Allow: this.allowedMethods() }).end();
  }

  private sendJson(res: http.ServerResponse, status: number, body: unknown): void {
    this.sendText(res, status, 'application/json; charset=utf-8', JSON.stringify(body), false);
  }

  private sendText(res: http.ServerResponse, status: number, type: string, text: string, headOnly: boolean): void {
    const body = Buffer.from(text);
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': body.length, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'same-origin' });
    res.end(headOnly ? undefined : body);
  }

  /** An error answer: a page for browsers, one plain line for everything else. */
  fail(req: http.IncomingMessage, res: http.ServerResponse, status: number, title: string, detail: string): void {
    const page = renderAgentErrorPage(status, title, detail, prefersHtml(req));
    // Unread request bodies (a refused upload) must not be parsed as the next request.
    if (req.method !== 'GET' && req.method !== 'HEAD' && !req.complete) res.setHeader('Connection', 'close');
    this.sendText(res, status, page.contentType, page.body, req.method === 'HEAD');
  }
}

/**
 * The request target in origin form (`/path?query`). A client configured with the edge as its
 * HTTP proxy sends the absolute form (`GET http://name.example.net/path`); RFC 9112 §3.2.2 says
 * its authority replaces the Host header, and the rest is the path. Both are written back on
 * the request, so everything after (the Host check, WebDAV) sees the usual form.
 */
function originForm(req: http.IncomingMessage): string {
  const target = req.url ?? '';
  const absolute = /^https?:\/\/([^/?#]*)/i.exec(target);
  if (!absolute) return target;
  const rest = target.slice(absolute[0].length);
  req.headers.host = absolute[1]!;
  req.url = rest.startsWith('/') ? rest : `/${rest}`;
  return req.url;
}

/** A local path to go to after login: never another site (`//evil`, `https://…`). */
function safeNext(next: string | null): string {
  // Printable ASCII only: browsers drop tabs and newlines, so `/\t/evil.example` becomes `//evil.example`.
  return next && /^\/(?![/\\])[\x21-\x7e]*$/.test(next) ? next : '/';
}

/**
 * True when a browser says the request comes from another site's page: Origin differs from
 * Host, or is `null` (a sandboxed document, such as a shared HTML file). Pages of the share
 * are sent with `Referrer-Policy: same-origin`, under which browsers keep Origin on its forms.
 */
function isCrossSite(req: http.IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host.toLowerCase() !== (req.headers.host ?? '').toLowerCase();
  } catch {
    return true;
  }
}

/** True while an error answer can still reach the visitor. */
function canAnswer(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  return !res.headersSent && !res.writableEnded && !req.socket.destroyed;
}

function prefersHtml(req: http.IncomingMessage): boolean {
  return /text\/html/i.test(req.headers.accept ?? '');
}

function wantsJson(req: http.IncomingMessage, query: URLSearchParams): boolean {
  if (query.get(SHARE_QUERY.format) === 'json') return true;
  const accept = req.headers.accept ?? '';
  return /application\/json/i.test(accept) && !/text\/html/i.test(accept);
}

/** Reads an urlencoded form of at most 8 KiB; null when larger. */
async function readSmallForm(req: http.IncomingMessage): Promise<URLSearchParams | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 8192) return null;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
