import dns2 from 'dns2';
import { encodeMessage } from './message-encoder.js';
import { answerQuestion, type ZoneView } from './zone.js';

const { Packet } = dns2;
type Packet = dns2.Packet;
type Resource = dns2.Packet.Resource;

/**
 * UDP payload size we advertise in our OPT record: the DNS Flag Day 2020 value, which avoids
 * IP fragmentation on practically every path.
 */
export const EDNS_UDP_PAYLOAD_SIZE = 1232;
/**
 * Largest UDP response to a query without EDNS (RFC 1035 §4.2.1), and the least we assume of
 * a client advertising less (RFC 6891 §6.2.5).
 */
export const PLAIN_UDP_PAYLOAD_SIZE = 512;
/** Largest DNS message over TCP: its length prefix has two bytes (RFC 1035 §4.2.2). */
export const MAX_TCP_MESSAGE_SIZE = 65_535;

/** How a request was handled: answered by the zone, refused with an error code, or dropped. */
export type ResponseKind = 'answered' | 'formerr' | 'notimp' | 'badvers' | 'dropped';

/** A response to send, or `null` when the request is dropped on purpose. */
export interface BuiltResponse {
  kind: ResponseKind;
  packet: Packet | null;
}

type EdnsCheck = { opt: Resource | undefined; rcode: number | undefined };

// RFC 6891 §6.1.1: at most one OPT, owned by the root name; §6.1.3: only version 0 exists.
function checkEdns(request: Packet): EdnsCheck {
  const opts = request.additionals.filter((record) => record.type === Packet.TYPE.EDNS);
  const opt = opts[0];
  if (opt === undefined) return { opt, rcode: undefined };
  if (opts.length > 1 || opt.name !== '') return { opt, rcode: Packet.RCODE.FORMERR };
  if ((opt.version ?? 0) !== 0) return { opt, rcode: Packet.RCODE.BADVERS };
  return { opt, rcode: undefined };
}

function responseOpt(requestOpt: Resource): Resource {
  // RFC 3225 §3: the DO bit of the query is copied into the response.
  const opt = Packet.Resource.EDNS([], { udpPayloadSize: EDNS_UDP_PAYLOAD_SIZE, doFlag: requestOpt.doFlag === true });
  return { ...opt, name: '' } as Resource;
}

/** A response carrying only the request's id, opcode and RD bit, with `rcode`. */
function bareResponse(request: Packet, rcode: number): Packet {
  const response = new Packet();
  response.header = new Packet.Header({
    id: request.header.id,
    qr: 1,
    opcode: request.header.opcode,
    rd: request.header.rd,
    rcode,
  });
  return response;
}

function errorResponse(request: Packet, rcode: number, requestOpt: Resource | undefined): Packet {
  const response = bareResponse(request, rcode);
  // Echo the question only when it decoded cleanly: junk would go back out as junk.
  if (request.errors.length === 0 && request.questions.length === 1) response.questions = request.questions.slice();
  if (requestOpt !== undefined) response.additionals.push(responseOpt(requestOpt));
  return response;
}

/**
 * Turns a request parsed by dns2 into the response to send, validating it first, because dns2
 * hands half-parsed packets to the handler.
 *
 * - responses (QR=1) are dropped: answering them lets two servers bounce errors at each
 *   other forever, and a spoofed source turns us into a reflector;
 * - an opcode other than QUERY gets NOTIMP;
 * - anything but exactly one cleanly decoded question, or a malformed OPT, gets FORMERR;
 * - an EDNS version other than 0 gets BADVERS;
 * - otherwise the zone answers, with an OPT advertising {@link EDNS_UDP_PAYLOAD_SIZE} when
 *   the query carried one.
 *
 * Exceptions from the zone (its `isClaimed` / `serial`) propagate; the server turns them
 * into SERVFAIL.
 */
export function buildResponse(zone: ZoneView, request: Packet): BuiltResponse {
  const header = request.header;
  if (header.qr !== 0) return { kind: 'dropped', packet: null };
  // Every error answer to a request with an OPT carries one too: a FORMERR about the OPT
  // itself must (RFC 6891 §7), and BADVERS needs it for its high bits.
  const edns = checkEdns(request);
  if (header.opcode !== 0) {
    return { kind: 'notimp', packet: errorResponse(request, Packet.RCODE.NOTIMP, edns.opt) };
  }
  if (request.errors.length > 0 || request.questions.length !== 1 || edns.rcode === Packet.RCODE.FORMERR) {
    return { kind: 'formerr', packet: errorResponse(request, Packet.RCODE.FORMERR, edns.opt) };
  }
  if (edns.rcode !== undefined) {
    return { kind: 'badvers', packet: errorResponse(request, edns.rcode, edns.opt) };
  }

  const question = request.questions[0]!;
  const answer = answerQuestion(zone, question);
  const response = new Packet();
  response.header = new Packet.Header({
    id: header.id,
    qr: 1,
    opcode: 0,
    aa: answer.authoritative ? 1 : 0,
    rd: header.rd,
    rcode: answer.rcode,
  });
  response.questions = [question];
  response.answers = answer.answers as Resource[];
  response.authorities = answer.authorities as Resource[];
  response.additionals = answer.additionals as Resource[];
  if (edns.opt !== undefined) response.additionals.push(responseOpt(edns.opt));
  return { kind: 'answered', packet: response };
}

/**
 * A bare SERVFAIL carrying only the request's id: what to send when building or encoding the
 * real response failed, so the client hears back instead of timing out.
 */
export function servfailFor(request: Packet): Packet {
  return bareResponse(request, Packet.RCODE.SERVFAIL);
}

/**
 * How many bytes a UDP response to `request` may have: the size its OPT advertises, clamped to
 * 512..{@link EDNS_UDP_PAYLOAD_SIZE}, or 512 without EDNS. Never more than dns2's own limit
 * (the advertised size, up to 65535), so dns2 sends our bytes untouched.
 */
export function udpResponseLimit(request: Packet): number {
  const opt = request.additionals.find((record) => record.type === Packet.TYPE.EDNS);
  if (opt === undefined) return PLAIN_UDP_PAYLOAD_SIZE;
  return Math.min(Math.max(opt.class, PLAIN_UDP_PAYLOAD_SIZE), EDNS_UDP_PAYLOAD_SIZE);
}

/**
 * The same response with TC=1 and only its question and OPT: what a client gets when the
 * answer does not fit, so that it asks again over TCP.
 */
export function truncatedResponse(response: Packet): Packet {
  const truncated = new Packet();
  truncated.header = new Packet.Header({ ...response.header, tc: 1 });
  truncated.questions = response.questions.slice();
  truncated.additionals = response.additionals.filter((record) => record.type === Packet.TYPE.EDNS);
  return truncated;
}

/** Encoded response bytes, and whether they had to be cut down to TC=1. */
export interface EncodedResponse {
  bytes: Buffer;
  truncated: boolean;
}

/**
 * Encodes `response` in at most `maxBytes`. When it is too big, the additional section is
 * dropped first (only the name servers' addresses live there, which the resolver can ask for:
 * no TC for that, RFC 2181 §9); when that is not enough, the client gets
 * {@link truncatedResponse} — no partial RRsets, nothing it could mistake for the whole answer.
 *
 * @throws when a record cannot be encoded (the server answers SERVFAIL)
 */
export function encodeWithin(response: Packet, maxBytes: number): EncodedResponse {
  const whole = encodeMessage(response, maxBytes);
  if (whole !== null) return { bytes: whole, truncated: false };
  const opt = response.additionals.filter((record) => record.type === Packet.TYPE.EDNS);
  if (opt.length < response.additionals.length) {
    const withoutAdditionals = new Packet();
    withoutAdditionals.header = response.header;
    withoutAdditionals.questions = response.questions;
    withoutAdditionals.answers = response.answers;
    withoutAdditionals.authorities = response.authorities;
    withoutAdditionals.additionals = opt;
    const smaller = encodeMessage(withoutAdditionals, maxBytes);
    if (smaller !== null) return { bytes: smaller, truncated: false };
  }
  // Header, a question (at most 259 bytes) and an OPT: always within 512.
  const truncated = encodeMessage(truncatedResponse(response), maxBytes);
  if (truncated === null) throw new Error(`a truncated response does not fit in ${maxBytes} bytes`);
  return { bytes: truncated, truncated: true };
}
