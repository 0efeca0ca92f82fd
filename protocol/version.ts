/**
 * Wire protocol version. Travels in the tunnel upgrade request (`Udns-Protocol` header) and in
 * the agent's first control message, so the framing can change without breaking old agents.
 */
export const PROTOCOL_VERSION = 1;

/** The HTTP path agents upgrade to open a tunnel. */
export const TUNNEL_PATH = '/_udns/tunnel';

/** `Upgrade:` token for the raw byte-stream transport (the fast default). */
export const RAW_UPGRADE_PROTOCOL = 'udns-tunnel';

/** Request header carrying {@link PROTOCOL_VERSION} on the tunnel upgrade. */
export const PROTOCOL_HEADER = 'udns-protocol';
