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

/**
 * Upgrade header with which an agent offers, and the edge accepts, the frame mux
 * (protocol/frame-mux/) instead of HTTP/2: the value is {@link FRAME_MUX_TOKEN} both ways. An
 * edge that does not answer it gets HTTP/2, as does an agent that does not send it.
 */
export const MUX_HEADER = 'udns-mux';
export const FRAME_MUX_TOKEN = 'frames/1';
