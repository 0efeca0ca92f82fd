import { constants, randomBytes } from 'node:crypto';
import type tls from 'node:tls';
import { z } from 'zod';

/*
 * The three transfer paths of a shared file (issue 10, patent figures 5 to 7):
 *
 * - `direct`: the receiver connects to the sharer's agent on its transfer port;
 * - `push`: the sharer's agent connects out to the receiver's listener (the edge tells it to,
 *   over the tunnel) and then serves the share's HTTP on that connection;
 * - `relay`: through the edge, as every share visitor.
 *
 * Direct and push connections are TLS 1.3 with an external pre-shared key and nothing else: the
 * edge hands a fresh 32-byte key per ticket to both sides over their authenticated channels
 * (the receiver: the API answer to its token; the sharer: the tunnel's control stream). The PSK
 * identity is the ticket id. A wrong peer, a replayed or forged ticket id fails the handshake;
 * a tampered byte fails the record MAC. Over the TLS connection: plain HTTP/1.1 exactly as the
 * share serves it (Range, ETag, `?checksum=sha256`).
 */

export const TransferPath = z.enum(['direct', 'push', 'relay']);
export type TransferPath = z.infer<typeof TransferPath>;
/** Preference order when the caller forces nothing. */
export const TRANSFER_PATHS: readonly TransferPath[] = ['direct', 'push', 'relay'];

/** How long a ticket may wait for its connection (the TLS handshake must start before). */
export const TRANSFER_TICKET_TTL_MS = 60_000;
/** How long the edge waits for the sharer's agent to take a ticket before answering without it. */
export const TRANSFER_TICKET_ACK_TIMEOUT_MS = 5_000;
/** Bytes of a ticket's pre-shared key (hex on the wire). */
export const TRANSFER_PSK_BYTES = 32;
/** Bytes of a ticket id (hex on the wire; it is the TLS PSK identity). */
export const TRANSFER_TICKET_ID_BYTES = 16;
/** Ticket requests per client network and minute (POST /api/v1/transfers). */
export const TRANSFER_REQUESTS_PER_MINUTE = 60;
/**
 * Connections one share serves at once over direct and push together. Only connections count
 * (a direct one from its TLS handshake, a push one from its dial): a ticket nobody used holds no
 * slot, so tickets asked for and never used cannot make the share refuse others (decisions).
 */
export const MAX_TRANSFERS_PER_SHARE = 8;
/** Of those, the connections one receiver (account) may hold: half, so one member leaves room. */
export const MAX_TRANSFERS_PER_RECEIVER = 4;
/**
 * Direct tickets not used yet that one receiver (account) may hold per share: a new one replaces
 * the receiver's older one for the same file, and beyond this the oldest. One `udns get` uses one
 * ticket at a time, within seconds; 4 leaves room for a few at once and a stale one of a crash.
 */
export const MAX_ARMED_TICKETS_PER_RECEIVER = 4;
/**
 * Direct tickets not used yet that one share holds, all receivers together. One network can
 * have at most TRANSFER_REQUESTS_PER_MINUTE (60) tickets alive (sliding minute, 60 s lifetime)
 * and one account MAX_ARMED_TICKETS_PER_RECEIVER: filling 128 takes 32 accounts on 3 networks.
 */
export const MAX_ARMED_TICKETS_PER_SHARE = 128;
/** Longest file path a ticket names. */
export const MAX_TRANSFER_PATH_LENGTH = 4096;

/** Why a probe (of a sharer's transfer port or a receiver's listener) failed; as DirectFailure. */
export const ProbeFailure = z.enum(['timeout', 'refused', 'wrong answer', 'unreachable']);
export type ProbeFailure = z.infer<typeof ProbeFailure>;

const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));
const port = z.number().int().min(1).max(65535);

/**
 * Agent → edge, after a share route is registered: this agent accepts direct transfers of the
 * route's files on `port` of its public address. `key` (hex, fresh per tunnel) keys the HMAC of
 * the edge's reachability probe, as in direct mode (protocol/direct.ts).
 */
export const OfferTransfer = z.object({
  type: z.literal('offerTransfer'),
  routeId: z.string().max(64),
  port,
  key: hex(32),
}).strict();

/** Edge → agent, after each probe whose outcome changed: can receivers reach the transfer port? */
export const TransferChecked = z.object({
  type: z.literal('transferChecked'),
  reachable: z.boolean(),
  address: z.string().max(64),
  port,
  reason: ProbeFailure.optional(),
}).strict();

/**
 * Edge → agent: a receiver may fetch `path` of share route `routeId` once, over a TLS-PSK
 * connection with identity `ticketId` and key `psk`, until `expiresAt` (ms since the epoch).
 * `direct`: the receiver connects to the transfer port. `push`: the agent connects to
 * `receiver` and serves the file there.
 */
export const TransferTicket = z.object({
  type: z.literal('transferTicket'),
  ticketId: hex(TRANSFER_TICKET_ID_BYTES),
  psk: hex(TRANSFER_PSK_BYTES),
  routeId: z.string().max(64),
  /** The file's path in the share, decoded, starting with `/`. */
  path: z.string().min(1).max(MAX_TRANSFER_PATH_LENGTH).startsWith('/'),
  mode: z.enum(['direct', 'push']),
  receiver: z.object({ address: z.string().max(64), port }).strict().optional(),
  expiresAt: z.number().int().nonnegative(),
  /**
   * Who asked: the same hex for every ticket of one account on this edge (a keyed hash, not the
   * account), so the agent bounds each receiver's unused tickets and connections apart.
   */
  holder: hex(16),
}).strict();

/** Agent → edge: the ticket is armed (direct: the listener knows it; push: the agent is dialling). */
export const TransferAccepted = z.object({
  type: z.literal('transferAccepted'),
  ticketId: hex(TRANSFER_TICKET_ID_BYTES),
}).strict();

/** Why an agent could not take or use a ticket. */
export const TransferFailure = z.enum(['not a share', 'busy', 'push refused', 'push failed', 'expired']);

/** Agent → edge: the ticket could not be used (the receiver then falls back to the next path). */
export const TransferFailed = z.object({
  type: z.literal('transferFailed'),
  ticketId: hex(TRANSFER_TICKET_ID_BYTES),
  reason: TransferFailure,
}).strict();

/**
 * Agent → edge, when a direct or push connection ends: what it served, for the transfer
 * records (the edge records relayed downloads itself). `bytes` counts the response bodies.
 */
export const TransferServed = z.object({
  type: z.literal('transferServed'),
  ticketId: hex(TRANSFER_TICKET_ID_BYTES),
  routeId: z.string().max(64),
  path: z.string().min(1).max(MAX_TRANSFER_PATH_LENGTH),
  via: z.enum(['direct', 'push']),
  bytes: z.number().int().nonnegative(),
  /** Whether the last response was sent in full (a whole file or the rest of one). */
  complete: z.boolean(),
  startedAt: z.number().int().nonnegative(),
  endedAt: z.number().int().nonnegative(),
}).strict();

export type OfferTransfer = z.infer<typeof OfferTransfer>;
export type TransferChecked = z.infer<typeof TransferChecked>;
export type TransferTicket = z.infer<typeof TransferTicket>;
export type TransferAccepted = z.infer<typeof TransferAccepted>;
export type TransferFailure = z.infer<typeof TransferFailure>;
export type TransferFailed = z.infer<typeof TransferFailed>;
export type TransferServed = z.infer<typeof TransferServed>;

/** POST /api/v1/transfers: a logged-in receiver asks for a way to fetch one shared file. */
export const TransferRequest = z.object({
  /** The file's URL on the edge, e.g. `http://alice-photos.example.net/trip/a.jpg`. */
  url: z.string().min(1).max(MAX_TRANSFER_PATH_LENGTH * 3),
  /** The receiver's listener for push (any interface, this port); absent: push is impossible. */
  receiverPort: port.optional(),
  /** Hex key of the receiver's probe answer (HMAC, protocol/direct.ts). */
  receiverKey: hex(32).optional(),
  /** Force a path: the answer is that path or an error (`transfer_unavailable`). */
  via: TransferPath.optional(),
  /** Paths already tried and failed during this download: the edge picks among the others. */
  avoid: z.array(TransferPath).max(3).optional(),
}).strict();
export type TransferRequest = z.infer<typeof TransferRequest>;

/** The answer to POST /api/v1/transfers. */
export const TransferGrant = z.discriminatedUnion('via', [
  z.object({ via: z.literal('relay') }).strict(),
  z.object({
    via: z.literal('direct'),
    ticketId: hex(TRANSFER_TICKET_ID_BYTES),
    psk: hex(TRANSFER_PSK_BYTES),
    address: z.string().max(64),
    port,
    expiresAt: z.number().int(),
  }).strict(),
  z.object({
    via: z.literal('push'),
    ticketId: hex(TRANSFER_TICKET_ID_BYTES),
    psk: hex(TRANSFER_PSK_BYTES),
    expiresAt: z.number().int(),
  }).strict(),
]);
export type TransferGrant = z.infer<typeof TransferGrant>;

/** A fresh ticket id and key. */
export function newTicketSecrets(): { ticketId: string; psk: string } {
  return { ticketId: randomBytes(TRANSFER_TICKET_ID_BYTES).toString('hex'), psk: randomBytes(TRANSFER_PSK_BYTES).toString('hex') };
}

/**
 * TLS settings of every direct and push connection: TLS 1.3 only, ChaCha20-Poly1305, external
 * PSK (OpenSSL offers psk_dhe_ke, so the session keys are forward secret), no certificates.
 * Node 20's pskCallback does TLS 1.3 external PSKs (measured: a wrong key fails with
 * ERR_SSL_BINDER_DOES_NOT_VERIFY, an unknown identity with a handshake failure).
 */
const PSK_TLS = {
  minVersion: 'TLSv1.3',
  maxVersion: 'TLSv1.3',
  ciphers: 'TLS_CHACHA20_POLY1305_SHA256',
} as const;

/**
 * Server options: `keyFor(identity)` returns the ticket's key, or null to refuse the handshake.
 * No session tickets: a TLS 1.3 resumption would open a second connection without naming the
 * ticket (measured on Node 20: accepted with any identity, pskCallback never called).
 */
export function pskServerOptions(keyFor: (identity: string) => Buffer | null): tls.TlsOptions {
  return {
    ...PSK_TLS,
    secureOptions: constants.SSL_OP_NO_TICKET,
    pskCallback: (_socket: tls.TLSSocket, identity: string) => keyFor(identity),
  } as tls.TlsOptions;
}

/** Client options for one ticket. */
export function pskClientOptions(ticketId: string, pskHex: string): tls.ConnectionOptions {
  const psk = Buffer.from(pskHex, 'hex');
  return {
    ...PSK_TLS,
    // No certificate is sent or checked: the key is the only credential.
    checkServerIdentity: () => undefined,
    pskCallback: () => ({ psk, identity: ticketId }),
  };
}

/** True for the first byte of a TLS record carrying a handshake (a ClientHello), as opposed to an HTTP probe. */
export function isTlsHandshakeByte(byte: number | undefined): boolean {
  return byte === 0x16;
}
