/**
 * Stable error codes. They cross the wire (`routeRefused`, `error` messages, API bodies) and
 * callers branch on them, never on messages, since agent and edge may run different versions.
 */
export const ERROR_CODES = [
  'bad_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'name_invalid',
  'name_reserved',
  'name_taken',
  'record_invalid',
  'record_conflict',
  'record_limit',
  'index_limit',
  'ticket_invalid',
  'transfer_unavailable',
  'insufficient_credits',
  'idempotency_conflict',
  'payment_required',
  'price_too_high',
  'sale_state',
  'hash_mismatch',
  'proof_rejected',
  'route_invalid',
  'route_limit',
  'name_limit',
  'port_unavailable',
  'protocol_version',
  'protocol_violation',
  'replaced',
  'rate_limited',
  'server_unreachable',
  'tls_untrusted',
  'local_unreachable',
  'config_invalid',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The one error class of udns: a stable `code`, a message that names the fix, an optional cause. */
export class UdnsError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UdnsError';
    this.code = code;
  }
}

/** True when `value` is a UdnsError with the given code (or any code when none is given). */
export function isUdnsError(value: unknown, code?: ErrorCode): value is UdnsError {
  return value instanceof UdnsError && (code === undefined || value.code === code);
}
