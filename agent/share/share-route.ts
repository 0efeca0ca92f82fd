import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { duplexFacade } from '../../protocol/duplex-facade.js';
import { HTTP_VISITOR_IDLE_MS, UdnsError, clientErrorLogFields, type AgentTunnelStream, type SigningKeyPair, type VisitorInfo } from '../../protocol/index.js';
import type { AgentLogger } from '../agent-logger.js';
import type { RouteGuard } from '../access/route-guard.js';
import { renderAgentErrorPage } from '../routes/agent-error-page.js';
import { PriceList, type PriceRule } from '../exchange/price-list.js';
import { SaleDesk } from '../exchange/sale-desk.js';
import { ShareExchange } from '../exchange/share-exchange.js';
import { commitFilePlain } from '../index/background-hasher.js';
import type { ListedShare } from '../index/listed-share.js';
import type { FileTransferReport, RouteHandler } from '../routes/route-handler.js';
import { meterFileResponse } from './served-file-meter.js';
import { parseDuration, type ShareOptions } from './share-options.js';
import { ShareServer, type ShareVisitor, type WebdavHandler } from './share-server.js';
import type { SharePolicy } from './share-paths.js';

/**
 * A shared folder as a route: the agent answers its visitors itself, in-process. Each tunnel
 * stream is handed to an `http.Server` that never listens (`emit('connection')`), so Node's
 * own HTTP/1.1 parser does keep-alive, chunking and pipelining exactly as for a real socket.
 */
export class ShareRoute implements RouteHandler {
  /** What `udns share` prints after the arrow: the folder. */
  readonly target: string;
  readonly server: ShareServer;
  readonly expiresAtMs: number | null;
  /** What decides what visitors (and the members' index) see of the folder. */
  readonly policy: SharePolicy;
  /** The share's entry in the members' index (`--list`), kept current while the route lives. */
  listed: ListedShare | null = null;
  /** Prices and sales (`--price`); null for a share without prices. */
  readonly exchange: ShareExchange | null;
  private readonly http: http.Server;
  private readonly visitors = new WeakMap<Duplex, ShareVisitor>();
  /** The tunnel's (or direct listener's) account of each connection, for the access rules. */
  private readonly visitorInfos = new WeakMap<Duplex, VisitorInfo>();
  private readonly open = new Set<Duplex>();
  /** Tunnel stream of each visitor connection, for the transfer reports. */
  private readonly streamIds = new WeakMap<Duplex, number>();
  private reporter: ((report: FileTransferReport) => void) | null = null;

  /**
   * `signingKey`: the member's key, which signs the offers of a share with prices.
   * @throws UdnsError `config_invalid` when the folder cannot be shared or its prices are wrong.
   */
  constructor(options: ShareOptions, private readonly logger: AgentLogger, nowMs = Date.now(), signingKey: SigningKeyPair | null = null, private readonly guard: RouteGuard | null = null) {
    if (options.prices.length > 0 && !options.list) {
      throw new UdnsError('config_invalid', 'prices need a listed share: add --list (list: true in a config file); buyers find and buy paid files through the members\' index');
    }
    const prices = new PriceList(options.prices);
    const root = realFolder(options.dir);
    // The control message carries at most 512 characters of description: keep the path's end.
    this.target = root.length > 512 ? `…${root.slice(-511)}` : root;
    const expiresIn = options.expires === undefined ? null : parseDuration(options.expires);
    this.expiresAtMs = expiresIn === null ? null : nowMs + expiresIn;
    const policy = { root, showHidden: options.showHidden, followSymlinks: options.followSymlinks };
    this.policy = policy;
    this.exchange = prices.empty ? null : new ShareExchange(prices, new SaleDesk({
      policy,
      prices: () => this.exchange?.priceList ?? null,
      commitment: (real, stats) => this.listed !== null ? this.listed.commitment(real, stats) : commitFilePlain(real),
      signingKey,
      logger: logger.child({ component: 'sales' }),
    }));
    this.server = new ShareServer({
      policy,
      password: options.password ?? null,
      allowUpload: options.allowUpload,
      expiresAtMs: this.expiresAtMs,
      webdav: options.webdav ? lazyWebdav(policy, options.allowUpload, logger) : null,
      exchange: this.exchange,
      basicAuthTaken: guard?.basicAuth ?? false,
      logger,
      visitorOf: (req) => this.visitors.get(req.socket as unknown as Duplex) ?? { remoteAddress: req.socket.remoteAddress ?? '', secure: false },
      // Only files sent over tunnel streams: the edge records those it relayed (direct and push
      // connections are reported per ticket).
      fileSent: (req, res, file) => {
        const streamId = this.streamIds.get(req.socket as unknown as Duplex);
        const reporter = this.reporter;
        if (streamId !== undefined && reporter !== null) meterFileResponse(res, file, streamId, reporter);
      },
    });
    this.http = http.createServer({ keepAliveTimeout: 30_000 }, guard === null ? this.server.handle : (req, res) => this.guarded(guard, req, res));
    this.http.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
      logger.debug(clientErrorLogFields(error), 'bad request from a share visitor');
      if (socket.writable && error.code !== 'ECONNRESET') socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  /** True when the route has access rules (`--basic-auth`, `--allow-ip`): no transfer tickets then. */
  get hasAccessRules(): boolean {
    return this.guard !== null;
  }

  /** The share's sale desk (answers the edge's `saleRequested`), when it has prices. */
  get sales(): SaleDesk | null {
    return this.exchange?.desk ?? null;
  }

  /**
   * New prices for the running share (`udns up` reloading its file): listings, 402s, sales and
   * the members' index follow at once. A share started without prices cannot take some (its
   * route is replaced instead). @throws UdnsError `config_invalid` for bad rules
   */
  setPrices(rules: readonly PriceRule[]): void {
    const prices = new PriceList(rules);
    if (this.exchange === null) throw new UdnsError('config_invalid', 'this share was started without prices');
    this.exchange.setPrices(prices);
    this.listed?.setPrices(prices);
  }

  published(url: string): void {
    this.server.publicHost = new URL(url).hostname;
    if (this.guard !== null) this.guard.realm = this.server.publicHost.split('.')[0]!;
  }

  /**
   * The route's access rules on every request, before the share sees it: a refusal is answered
   * here and ends the connection (each further guess needs a new one, which the edge counts).
   */
  private guarded(guard: RouteGuard, req: http.IncomingMessage, res: http.ServerResponse): void {
    const visitor = this.visitorInfos.get(req.socket as unknown as Duplex);
    const refused = visitor === undefined
      ? { status: 403 as const, title: 'Forbidden', reason: 'unknown visitor', headers: {} }
      : guard.check(visitor, { authorization: req.headersDistinct.authorization ?? [], forwardedFor: req.headersDistinct['x-forwarded-for'] ?? [] });
    if (refused === null) {
      // The route's password is not the share's: the share's own gate never sees it.
      if (guard.basicAuth) delete req.headers.authorization;
      this.server.handle(req, res);
      return;
    }
    const page = renderAgentErrorPage(refused.status, refused.title, `udns refused this request: ${refused.reason}.`, (req.headers.accept ?? '').includes('text/html'));
    res.shouldKeepAlive = false;
    res.writeHead(refused.status, { ...refused.headers, 'Content-Type': page.contentType, 'Content-Length': Buffer.byteLength(page.body), Connection: 'close' });
    res.end(page.body);
  }

  handleStream(stream: AgentTunnelStream, visitor: VisitorInfo): void {
    stream.respond({ ':status': 200 });
    const connection = this.serve(stream, visitor);
    if (stream.id !== undefined) this.streamIds.set(connection, stream.id);
  }

  reportTransfers(send: (report: FileTransferReport) => void): void {
    this.reporter = send;
  }

  /** Serves one visitor connection (a tunnel stream, or any duplex carrying HTTP/1.1). */
  serve(stream: Duplex, visitor: VisitorInfo): Duplex {
    const connection = connectionFor(stream);
    this.visitors.set(connection, { remoteAddress: visitor.remoteAddress, secure: visitor.scheme === 'https', ...(visitor.customHost === undefined ? {} : { customHost: visitor.customHost }) });
    this.visitorInfos.set(connection, visitor);
    this.open.add(connection);
    connection.once('close', () => this.open.delete(connection));
    stream.on('error', (error) => this.logger.debug({ err: error }, 'share visitor stream error'));
    this.http.emit('connection', connection);
    return connection;
  }

  close(): void {
    this.listed?.close();
    this.exchange?.desk?.close();
    for (const stream of this.open) stream.destroy();
  }
}

/** The WebDAV handler, loaded on first use: nephele and express cost half a second of start-up. */
function lazyWebdav(policy: SharePolicy, allowUpload: boolean, logger: AgentLogger): WebdavHandler {
  let loading: Promise<WebdavHandler> | null = null;
  return (req, res, ...rest) => {
    loading ??= import('./webdav-bridge.js').then(({ createWebdavHandler }) => createWebdavHandler(policy, allowUpload, logger));
    loading.then((handler) => handler(req, res, ...rest), (error: unknown) => {
      logger.error({ err: error }, 'WebDAV could not be loaded');
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('WebDAV is unavailable on this agent\n');
    });
  };
}

/**
 * What the HTTP server is handed for one visitor stream: a plain Duplex in front of it. Node's
 * HTTP server treats its connection like a net.Socket, and an Http2Stream does not take all of
 * that: its writev garbled the corked [status line, body] pair the server writes for small
 * answers (Node 20). Here bytes go through one at a time, reads pause the stream when the
 * server is behind, and the stream is ended cleanly when the server ends the connection.
 */
function connectionFor(stream: Duplex): Duplex {
  const connection = duplexFacade(stream, { passErrors: true });
  // Node's HTTP server times connections out through socket.setTimeout (keep-alive idle, 30 s
  // here); its other timeouts need a listening server. Silence beyond IDLE_MS ends any
  // connection, so a visitor cannot hold one open without sending or reading.
  let serverTimer: NodeJS.Timeout | null = null;
  const idleTimer = setTimeout(() => connection.destroy(), IDLE_MS);
  idleTimer.unref();
  const activity = (): void => {
    idleTimer.refresh();
    serverTimer?.refresh();
  };
  Object.assign(connection, {
    setTimeout(ms: number, callback?: () => void): Duplex {
      if (callback) connection.once('timeout', callback);
      if (serverTimer) clearTimeout(serverTimer);
      serverTimer = ms > 0 ? setTimeout(() => connection.emit('timeout'), ms) : null;
      serverTimer?.unref();
      return connection;
    },
  });
  stream.on('data', activity);
  connection.once('close', () => {
    clearTimeout(idleTimer);
    if (serverTimer) clearTimeout(serverTimer);
  });
  const write = connection._write.bind(connection);
  connection._write = (chunk, encoding, done) => {
    activity();
    write(chunk, encoding, done);
  };
  return connection;
}

/**
 * A share connection with no byte either way for this long is closed: as long as the edge
 * waits for an idle visitor, so a checksum of a very large file still gets its answer.
 */
const IDLE_MS = HTTP_VISITOR_IDLE_MS;

function realFolder(dir: string): string {
  const absolute = path.resolve(dir);
  let real: string;
  try {
    real = fs.realpathSync(absolute);
  } catch (error) {
    throw new UdnsError('config_invalid', `cannot share ${absolute}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such folder' : (error as Error).message}`);
  }
  if (!fs.statSync(real).isDirectory()) throw new UdnsError('config_invalid', `cannot share ${absolute}: it is a file, not a folder (share the folder it is in)`);
  try {
    fs.accessSync(real, fs.constants.R_OK | fs.constants.X_OK);
  } catch {
    throw new UdnsError('config_invalid', `cannot share ${absolute}: permission denied`);
  }
  return real;
}
