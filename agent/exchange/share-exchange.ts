import fs from 'node:fs/promises';
import type http from 'node:http';
import { SHARE_QUERY, type PaymentRequired, type ShareEntry } from '../../protocol/index.js';
import { renderAgentErrorPage } from '../routes/agent-error-page.js';
import { parseSharePath, resolveExisting, type SharePolicy } from '../share/share-paths.js';
import { priceOfFile, type PriceList } from './price-list.js';
import { sameVersion, type SaleDesk } from './sale-desk.js';
import { sendManifest, sendSealedFile } from './sealed-response.js';

/** Sale ids are 16 random bytes in hex (protocol/exchange.ts SaleId). */
const SALE_ID = /^[0-9a-f]{32}$/;

/**
 * What a share with prices does differently, for ShareServer to call: priced files are never
 * sent in clear (402 with the price and the command that buys them, on every path a file can
 * leave by: GET/HEAD, `?checksum`, folder ZIPs, WebDAV copies), listings show prices, and
 * `?sale=<id>` serves what the sale desk sealed for a buyer.
 */
export class ShareExchange {
  constructor(private prices: PriceList, readonly desk: SaleDesk | null) {}

  /** The current prices (the desk and the listed share read them too). */
  get priceList(): PriceList {
    return this.prices;
  }

  setPrices(prices: PriceList): void {
    this.prices = prices;
  }

  /** The price of the file at share path `path`, or null when it is free. */
  priceOf(path: string): number | null {
    return this.prices.priceOf(path);
  }

  /**
   * The price of a file reached at share path `sharePath` whose real path is `real`: a symlink
   * inside the share to a priced file costs what that file costs (else the link would be a free
   * door to it); null when neither path is priced.
   */
  priceOfFile(sharePath: string, real: string, policy: SharePolicy): number | null {
    return priceOfFile(this.prices, sharePath, real, policy.root);
  }

  /** True when the share prices anything (folder copies and ZIPs must then look at each file). */
  get hasPrices(): boolean {
    return !this.prices.empty;
  }

  /** Adds each priced file's price to a listing of the folder at share path `folder` (`/talks/`); `reals`: each name's real path. */
  priced(entries: ShareEntry[], folder: string, reals: ReadonlyMap<string, string>, policy: SharePolicy): ShareEntry[] {
    if (this.prices.empty) return entries;
    return entries.map((entry) => {
      if (entry.type !== 'file') return entry;
      const price = priceOfFile(this.prices, `${folder}${entry.name}`, reals.get(entry.name) ?? '', policy.root);
      return price === null ? entry : { ...entry, price };
    });
  }

  /**
   * The 402 for a priced file: JSON (PaymentRequired) for programs, a page for browsers, and
   * the price in `X-Udns-Price` for a HEAD (what `udns get` asks first).
   */
  sendPaymentRequired(req: http.IncomingMessage, res: http.ServerResponse, path: string, price: number, url: string): void {
    const message = `${path} costs ${price} credit${price === 1 ? '' : 's'}: buy it with \`udns get ${url}\``;
    const html = /text\/html/i.test(req.headers.accept ?? '');
    let type: string;
    let text: string;
    if (html) {
      const page = renderAgentErrorPage(402, 'Payment required', message, true);
      type = page.contentType;
      text = page.body;
    } else {
      const body: PaymentRequired = { error: { code: 'payment_required', message }, price, url, path };
      type = 'application/json; charset=utf-8';
      text = JSON.stringify(body);
    }
    const bytes = Buffer.from(text);
    res.writeHead(402, {
      'Content-Type': type, 'Content-Length': bytes.length, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', 'X-Udns-Price': String(price),
      // Unread request bodies (a refused COPY with one) must not be parsed as the next request.
      ...(req.method !== 'GET' && req.method !== 'HEAD' && !req.complete ? { Connection: 'close' } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  }

  /**
   * `GET|HEAD <path>?sale=<id>[&manifest=1]`: the sealed file or its manifest for a sale this
   * share offered. Answers 404 for any other id (or another path), 410 once the file changed.
   */
  async serveSale(req: http.IncomingMessage, res: http.ServerResponse, policy: SharePolicy, rawPath: string, query: URLSearchParams, fail: Fail): Promise<void> {
    const notFound = (): void => fail(404, 'Not found', 'No sale of this file is open here: start one with `udns get <url>`.');
    const saleId = query.get(SHARE_QUERY.sale) ?? '';
    const segments = parseSharePath(rawPath, policy.showHidden);
    if (!Array.isArray(segments) || segments.length === 0 || !SALE_ID.test(saleId)) return notFound();
    const sale = this.desk?.sale(saleId) ?? null;
    if (sale === null || sale.path !== `/${segments.join('/')}`) return notFound();
    const found = await resolveExisting(policy, segments);
    if (found === null || !found.stats.isFile() || !sameVersion(found.stats, sale.version)) {
      return fail(410, 'Gone', 'The file changed since it was sold: cancel this purchase (nothing is paid) and buy it again.');
    }
    if (query.get(SHARE_QUERY.manifest) === '1') return sendManifest(req, res, sale);
    return sendSealedFile(req, res, sale);
  }

  /**
   * WebDAV COPY and MOVE on a share with prices: a priced file copied or moved to a name no
   * price matches would be free, so those sources are refused (402), and so are folders (any
   * of their files may be priced). True when it answered (refused).
   */
  async refuseCopy(req: http.IncomingMessage, res: http.ServerResponse, policy: SharePolicy, segments: string[], url: string, fail: Fail): Promise<boolean> {
    const found = await resolveExisting(policy, segments);
    if (found === null) return false;
    if (found.stats.isDirectory()) {
      fail(403, 'Forbidden', 'Folders of a share with prices are not copied or moved over WebDAV; copy the files one by one.');
      return true;
    }
    const sharePath = `/${segments.join('/')}`;
    const price = this.priceOfFile(sharePath, found.real, policy);
    if (price === null) return false;
    this.sendPaymentRequired(req, res, sharePath, price, url);
    return true;
  }
}

/** ShareServer's error answer (a page for browsers, a line otherwise). */
type Fail = (status: number, title: string, detail: string) => void;
