import { z } from 'zod';

/*
 * Private routes (`udns http|tcp --private`): no public URL, no Host routing, no public port,
 * no DNS name. A member the owner allowed reaches one with `udns connect <name>`, whose local
 * listener opens one authenticated upgrade per connection to the edge's connect endpoint; the
 * edge then bridges that connection's raw bytes into a visitor stream on the owner's tunnel.
 */

/** Account names as the edge stores them: 1-32 lowercase letters, digits or '-'. */
export const MEMBER_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;
/** Most members one private route may name (the owner is always allowed on top). */
export const MAX_ALLOWED_MEMBERS = 64;

/** The members allowed on a private route, besides its owner. */
export const PrivateAccess = z.object({
  allowMembers: z.array(z.string().regex(MEMBER_NAME, 'a member is an account name: 1-32 lowercase letters, digits or \'-\''))
    .max(MAX_ALLOWED_MEMBERS, `a private route may allow at most ${MAX_ALLOWED_MEMBERS} members`),
}).strict();
export type PrivateAccess = z.infer<typeof PrivateAccess>;

/** Where `udns connect` upgrades one local connection: `${CONNECT_PATH}/<name>` on the apex. */
export const CONNECT_PATH = '/api/v1/connect';
/** The `Upgrade` protocol of a connect request (raw bytes after the 101). */
export const CONNECT_UPGRADE_PROTOCOL = 'udns-connect';
/**
 * The owner `udns connect` saw when it started (`Udns-Connect-Owner`): the edge refuses a
 * connection when the name is now another account's private route (the owner went offline and
 * someone else registered the name), so a running connector never sends a member's traffic to
 * whoever took the name over.
 */
export const CONNECT_OWNER_HEADER = 'udns-connect-owner';

/** What the edge publishes instead of a URL for a private route (`udns http --private` prints it). */
export function privateRouteAddress(name: string): string {
  return `private: udns connect ${name}`;
}

/** `GET ${CONNECT_PATH}/<name>`: the private route a member may connect to. */
export const PrivateRouteView = z.object({
  name: z.string(),
  kind: z.enum(['http', 'tcp']),
  owner: z.string(),
}).strict();
export type PrivateRouteView = z.infer<typeof PrivateRouteView>;
