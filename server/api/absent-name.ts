import type { IncomingMessage } from 'node:http';
import type { NameDirectory } from '../name-directory.js';
import { classifyHost, effectiveHost } from '../proxy/request-head.js';

/** What the edge answers for a request to a member name that no live tunnel serves. */
export interface AbsentNameAnswer {
  status: 502 | 404;
  title: string;
  detail: string;
  /** A name of the zone (`<label>.<domain>`), not a foreign host. */
  memberName: boolean;
}

/**
 * The answer for a request that reached the edge's own app (or its upgrade handler) for a host
 * other than the apex: 502 "offline" for a claimed name, 404 for anything else; null for the
 * apex. Plain requests and WebSocket upgrades get the same answer.
 */
export function absentNameAnswer(req: IncomingMessage, domain: string, directory: Pick<NameDirectory, 'isClaimed'>): AbsentNameAnswer | null {
  const host = classifyHost(effectiveHost(req.url ?? '/', req.headers.host), domain);
  if (host.kind === 'apex') return null;
  if (host.kind === 'name' && directory.isClaimed(host.label)) {
    return { status: 502, title: 'This PC is offline', detail: `${host.label}.${domain} exists, but its agent is not connected right now. Try again later.`, memberName: true };
  }
  const what = host.kind === 'name' ? `${host.label}.${domain}` : (req.headers.host ?? 'this host');
  return { status: 404, title: 'No such name', detail: `${what} is not a name on ${domain}.`, memberName: host.kind === 'name' };
}
