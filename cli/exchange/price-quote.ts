import readline from 'node:readline';
import { PaymentRequired, UdnsError } from '../../protocol/index.js';
import { SEARCH_MAX_WORD_CHARS, SEARCH_MAX_WORDS } from '../../protocol/search-api.js';
import type { EdgeTarget } from '../client-config.js';
import { callEdge } from '../edge-api.js';
import { decodedPath, readSmallBody, requestShare, type ShareAccess } from '../download/share-http.js';

/** What the buyer is shown before paying. */
export interface PriceQuote {
  /** Credits; undefined when neither the share nor the search said. */
  price: number | undefined;
  /** The seller's account; undefined when the search did not find the file. */
  seller: string | undefined;
  /** The seller's trust as the edge computes it, when the search showed it. */
  trust?: { score: number | null; ratings: number; disputesLost: number };
}

/**
 * The price and seller of a paid file: the share's 402 says the price (X-Udns-Price on a HEAD,
 * the PaymentRequired JSON on a GET); the edge's search (a logged-in member may search) says
 * the seller and their trust, and the price too when the share did not. What is shown is only
 * a guide: the purchase carries the most the buyer agreed to pay, and the edge refuses more.
 */
export async function quotePrice(url: URL, access: ShareAccess, edge: EdgeTarget, hinted: number | undefined): Promise<PriceQuote> {
  const price = hinted ?? await priceFromShare(url, access).catch(() => undefined);
  const hit = await searchHit(url, edge).catch(() => undefined);
  return { price: price ?? hit?.price ?? undefined, seller: hit?.owner, ...(hit?.trust ? { trust: hit.trust } : {}) };
}

async function priceFromShare(url: URL, access: ShareAccess): Promise<number | undefined> {
  const res = await requestShare(url, access, { headers: { accept: 'application/json' } });
  if (res.statusCode !== 402) {
    res.resume();
    return undefined;
  }
  const parsed = PaymentRequired.safeParse(JSON.parse(await readSmallBody(res, url, 64 * 1024)));
  return parsed.success ? parsed.data.price : undefined;
}

interface Hit {
  url: string;
  share: string;
  path: string;
  owner: string;
  price?: number | null;
  trust?: { score: number | null; ratings: number; disputesLost: number };
}

/** The search hit of exactly this file, found by its name's words. */
async function searchHit(url: URL, edge: EdgeTarget): Promise<Hit | undefined> {
  const path = decodedPath(url);
  const name = path.slice(path.lastIndexOf('/') + 1);
  const words = name.split(/\s+/u).filter((word) => word.length > 0 && [...word].length <= SEARCH_MAX_WORD_CHARS).slice(0, SEARCH_MAX_WORDS);
  if (words.length === 0) return undefined;
  const answer = await callEdge<{ hits?: Hit[] }>(edge, 'GET', `/api/v1/search?q=${encodeURIComponent(words.join(' '))}&limit=100`);
  const label = url.hostname.split('.')[0];
  return answer.hits?.find((hit) => hit.url === url.href || (hit.share === label && hit.path === path));
}

/** "Pay 50 credits to alice for talk.pdf? [y/N]" on the terminal; anything but y/yes is no. */
export function askToPay(question: string, input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stderr): Promise<boolean> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input, output, terminal: false });
    output.write(`${question} [y/N] `);
    let answered = false;
    rl.once('line', (line) => {
      answered = true;
      rl.close();
      resolve(/^\s*y(es)?\s*$/i.test(line));
    });
    rl.once('close', () => {
      if (!answered) resolve(false);
    });
  });
}

/** The one line that refuses to buy without consent, naming the flag that gives it. */
export function consentMissing(file: string, quote: PriceQuote): UdnsError {
  const what = quote.price === undefined ? 'is for sale' : `costs ${quote.price} credits${quote.seller === undefined ? '' : ` (seller ${quote.seller})`}`;
  const flag = quote.price === undefined ? '--pay-up-to <credits>' : `--pay-up-to ${quote.price}`;
  return new UdnsError('payment_required', `${file} ${what}: nothing was bought; run on a terminal to be asked, or pass ${flag} to buy it`);
}
