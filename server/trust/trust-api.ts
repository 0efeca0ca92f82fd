import express, { type Request, type Response } from 'express';
import { RatingRequest, type TrustView } from '../../protocol/exchange.js';
import { UdnsError } from '../../protocol/errors.js';
import type { SearchMode } from '../../protocol/search-api.js';
import type { AccountInfo } from '../accounts/account-store.js';
import { parseBody } from '../api/names-api.js';
import type { PublicUrls } from '../public-urls.js';
import type { SearchIndex } from '../search/search-index.js';
import { renderMemberPage, type MemberPageState } from './member-page.js';
import type { RatingStore, RatingView, ReceivedRating } from './rating-store.js';
import type { TrustRefresher } from './trust-refresh.js';
import { sendRenderedPage } from '../pages/send-page.js';

/** GET /api/v1/trust/:account's answer. */
export interface TrustAnswer {
  account: string;
  trust: TrustView;
  /** The newest ratings (at most RECENT_RATINGS). */
  recent: ReceivedRating[];
}

/** POST /api/v1/purchases/:id/rating's answer. */
export interface RatingAnswer {
  rating: RatingView;
}

export const RECENT_RATINGS = 20;
const ACCOUNT_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

export interface TrustApiDeps {
  ratings: RatingStore;
  refresher: Pick<TrustRefresher, 'trustOf'>;
  /** Account id by name, or null. */
  accountIdOf(name: string): Promise<number | null>;
}

async function lookUp(deps: TrustApiDeps, name: string): Promise<number | null> {
  return ACCOUNT_NAME.test(name) ? deps.accountIdOf(name) : null;
}

/**
 * Under /api/v1, behind the bearer-token check (`res.locals.account`):
 * `POST /purchases/:id/rating` {score, comment?} rates a purchase (201, or 200 when the same
 * rating was already stored); `GET /trust/:account` answers an account's trust and newest ratings.
 */
export function createTrustRouter(deps: TrustApiDeps): express.Router {
  const router = express.Router();
  router.post('/purchases/:id/rating', express.json({ limit: '8kb' }), async (req, res: Response) => {
    const body = parseBody(RatingRequest, req.body);
    const caller = res.locals.account as AccountInfo;
    const rating = await deps.ratings.rate({ saleId: String(req.params.id), raterId: caller.id, score: body.score, comment: body.comment });
    const answer: RatingAnswer = { rating };
    res.status(rating.created ? 201 : 200).json(answer);
  });

  router.get('/trust/:account', async (req, res: Response) => {
    const name = String(req.params.account);
    const id = await lookUp(deps, name);
    if (id === null) throw new UdnsError('not_found', `no account named "${name.slice(0, 40)}"`);
    const answer: TrustAnswer = { account: name, trust: await deps.refresher.trustOf(id), recent: await deps.ratings.received(id, RECENT_RATINGS) };
    res.json(answer);
  });
  return router;
}

/**
 * The apex page `/members/<account>`: trust, newest ratings, listed shares. Who may see it
 * follows `--search`: anyone when public, members (the search page's sign-in cookie) when
 * members, nobody when off.
 */
export function createMemberPageRouter(deps: TrustApiDeps & {
  index: Pick<SearchIndex, 'sharesOf'>;
  urls: PublicUrls;
  searchMode: () => SearchMode;
  /** The search page's session token of this request, checked; false when absent or rejected. */
  signedIn: (req: Request) => Promise<boolean>;
}): express.Router {
  const router = express.Router();
  router.get('/members/:account', async (req, res) => {
    const domain = deps.urls.domain;
    const mode = deps.searchMode();
    if (mode === 'off') return send(res, 404, { domain, view: 'missing', account: String(req.params.account).slice(0, 32) });
    if (mode === 'members' && !(await deps.signedIn(req))) return send(res, 401, { domain, view: 'signIn' });
    const name = String(req.params.account);
    const id = await lookUp(deps, name);
    if (id === null) return send(res, 404, { domain, view: 'missing', account: name.slice(0, 32) });
    const [trust, ratings, shares] = await Promise.all([deps.refresher.trustOf(id), deps.ratings.received(id, RECENT_RATINGS), deps.index.sharesOf(id)]);
    return send(res, 200, {
      domain, view: 'member', account: name, trust, ratings,
      shares: shares.map((share) => ({ label: share.label, url: deps.urls.forName(share.label), online: share.online, locked: share.locked, entries: share.entries })),
    });
  });
  return router;
}

function send(res: Response, status: number, state: MemberPageState): void {
  sendRenderedPage(res, status, renderMemberPage(state));
}
