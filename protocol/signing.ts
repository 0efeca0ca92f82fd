import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';

/*
 * Signed statements (issue 11, non-repudiation): offers (the seller), acceptances (the buyer),
 * receipts and tree heads (the edge). Ed25519 over a domain-separated canonical JSON text, so a
 * statement signed for one purpose never verifies as another and anyone holding the public keys
 * can check it offline, in any language: the canonical form is RFC 8785-like (object keys sorted
 * by UTF-16 code units, no whitespace, JSON.stringify's string and number forms; only safe
 * integers, strings, booleans, null, arrays and plain objects are allowed).
 */

/** What a statement is for: part of the signed text, so one kind never verifies as another. */
export const STATEMENT_KINDS = ['offer', 'acceptance', 'receipt', 'tree-head', 'key'] as const;
export type StatementKind = (typeof STATEMENT_KINDS)[number];

const base64 = z.string().max(200).regex(/^[A-Za-z0-9+/]+={0,2}$/);
/** A raw 32-byte Ed25519 public key, base64. */
export const PublicKeyText = base64.refine((text) => Buffer.from(text, 'base64').length === 32, { error: 'not a 32-byte Ed25519 public key' });
/** Hex first 16 bytes of SHA-256 of a raw public key. */
export const KeyId = z.string().regex(/^[0-9a-f]{32}$/);

/** A statement as it travels and is stored: the body, who signed it and the signature. */
export const SignedStatement = z.object({
  kind: z.enum(STATEMENT_KINDS),
  body: z.record(z.string(), z.unknown()),
  keyId: KeyId,
  /** Base64 Ed25519 signature over statementText(kind, body). */
  signature: base64,
}).strict();
export type SignedStatement = z.infer<typeof SignedStatement>;

/** A member's (or the edge's) key pair; the private key never leaves its owner's disk. */
export interface SigningKeyPair {
  readonly privateKey: KeyObject;
  /** Base64 raw 32 bytes. */
  readonly publicKey: string;
  readonly keyId: string;
}

/** The canonical JSON of a value (see the comment at the top). @throws TypeError for anything else */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`canonicalJson: only safe integers, got ${value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  throw new TypeError(`canonicalJson: unsupported value of type ${typeof value}`);
}

/** The exact bytes a statement's signature covers. */
export function statementText(kind: StatementKind, body: Record<string, unknown>): Buffer {
  return Buffer.from(`udns-${kind}-v1\n${canonicalJson(body)}`, 'utf8');
}

/** The key id of a raw public key (base64). */
export function keyIdOf(publicKey: string): string {
  return createHash('sha256').update(Buffer.from(publicKey, 'base64')).digest().subarray(0, 16).toString('hex');
}

/** A fresh Ed25519 key pair. */
export function generateSigningKey(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return keyPairOf(privateKey, publicKey);
}

/** The key pair of a PEM (PKCS#8) private key, as {@link signingKeyPem} writes it. */
export function signingKeyFromPem(pem: string): SigningKeyPair {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('not an Ed25519 private key');
  return keyPairOf(privateKey, createPublicKey(privateKey));
}

/** PKCS#8 PEM of a private key, for a 0600 file. */
export function signingKeyPem(pair: SigningKeyPair): string {
  return pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** Signs `body` as a statement of `kind` with `pair`. */
export function signStatement(kind: StatementKind, body: Record<string, unknown>, pair: SigningKeyPair): SignedStatement {
  const signature = sign(null, statementText(kind, body), pair.privateKey).toString('base64');
  return { kind, body, keyId: pair.keyId, signature };
}

/**
 * True when `statement` is of `kind`, was signed by `publicKey` (base64 raw) and its keyId names
 * that key. Never throws: a malformed statement or key is simply not valid.
 */
export function verifyStatement(statement: SignedStatement, kind: StatementKind, publicKey: string): boolean {
  try {
    if (statement.kind !== kind || statement.keyId !== keyIdOf(publicKey)) return false;
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey, 'base64').toString('base64url') }, format: 'jwk' });
    return verify(null, statementText(kind, statement.body), key, Buffer.from(statement.signature, 'base64'));
  } catch {
    return false;
  }
}

function keyPairOf(privateKey: KeyObject, publicKeyObject: KeyObject): SigningKeyPair {
  const jwk = publicKeyObject.export({ format: 'jwk' });
  const publicKey = Buffer.from(String(jwk.x), 'base64url').toString('base64');
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}
