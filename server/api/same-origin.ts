import type { IncomingMessage } from 'node:http';

/**
 * False for a form post from another site (CSRF, login CSRF): browsers send Origin on every
 * POST. A request without Origin (curl, a script-less client) is not a browser's cross-site
 * post, so it passes; session checks still apply to it.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}
