import { createHash, randomBytes } from 'node:crypto';

/** Every udns token starts with this, so a leaked one is recognisable (secret scanners, logs). */
export const TOKEN_PREFIX = 'udns_';

/** Random bytes per token: 256 bits, far beyond guessing. */
export const TOKEN_RANDOM_BYTES = 32;

/** Characters of a token that are stored in clear and shown to tell tokens apart. */
export const TOKEN_DISPLAY_PREFIX_LENGTH = 10;

// base64url of 32 bytes without padding is always 43 characters.
const TOKEN_FORMAT = /^udns_[A-Za-z0-9_-]{43}$/;

/** A new secret token: `udns_` + base64url of 32 random bytes (48 characters). */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(TOKEN_RANDOM_BYTES).toString('base64url');
}

/** True when `value` has the exact shape of a token, checked before any hashing or lookup. */
export function isWellFormedToken(value: string): boolean {
  return value.length === TOKEN_PREFIX.length + 43 && TOKEN_FORMAT.test(value);
}

/** Hex SHA-256 of the whole token string: what the database stores and looks up. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The part of a token that may be stored and displayed (`udns_AbCdE`). */
export function displayPrefix(token: string): string {
  return token.slice(0, TOKEN_DISPLAY_PREFIX_LENGTH);
}
