import type { Response } from 'express';

/**
 * Sends one of the edge's server-rendered pages with the headers they all need: the page's own
 * Content-Security-Policy, no caching (pages show a member's results), and `same-origin`
 * referrers, because the query is in the page's URL and a click on a result (another origin)
 * must not hand it to the sharer. Not no-referrer: browsers then send `Origin: null` on the
 * sign-in form's POST.
 */
export function sendRenderedPage(res: Response, status: number, page: { html: string; csp: string }): void {
  res.status(status)
    .set('Content-Security-Policy', page.csp)
    .set('Cache-Control', 'no-store')
    .set('Referrer-Policy', 'same-origin')
    .set('X-Content-Type-Options', 'nosniff')
    .type('html')
    .send(page.html);
}
