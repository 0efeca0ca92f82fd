import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { KeyView, UdnsError, generateSigningKey, signingKeyFromPem, signingKeyPem, type SigningKeyPair } from '../protocol/index.js';
import { clientConfigPath, type EdgeTarget } from './client-config.js';
import { callEdge } from './edge-api.js';

/*
 * The member's Ed25519 signing key (issue 11, non-repudiation): offers (as a seller) and
 * acceptances (as a buyer) are signed with it, and the edge knows its public part. It lives
 * beside the saved login, readable by its owner only, and never leaves this machine:
 *
 *   ~/.config/udns/config.json        the login (server, token)
 *   ~/.config/udns/signing-key.pem    the private key (PKCS#8 PEM, 0600)
 *   ~/.config/udns/signing-key.json   which edges already have its public part (so a command
 *                                     does not register it again every time)
 *
 * With UDNS_CONFIG=<dir>/<name>.json (another identity) the key is <dir>/<name>.signing-key.pem:
 * one key per login file, so two accounts on one machine never share a key (the edge gives a
 * key to one account only).
 */

/** Where the key and its registration note are, for the login file in `env`. */
export interface SigningKeyFiles {
  /** The private key (PEM). */
  readonly key: string;
  /** Which edges have the public key: {keyId, edges: {origin: account}}. */
  readonly registrations: string;
}

const Registrations = z.object({
  keyId: z.string(),
  /** Edge origin → the account it registered the key to. */
  edges: z.record(z.string(), z.string()),
}).strict();
type Registrations = z.infer<typeof Registrations>;

/** POST /api/v1/keys's answer (server/keys/keys-api.ts). */
const RegisterKeyAnswer = z.object({ key: KeyView, created: z.boolean() });

/** The key files for the login file `clientConfigPath(env)`. */
export function signingKeyFiles(env: NodeJS.ProcessEnv = process.env): SigningKeyFiles {
  const config = clientConfigPath(env);
  const stem = path.basename(config).replace(/\.json$/i, '');
  const prefix = stem === 'config' ? '' : `${stem}.`;
  const dir = path.dirname(config);
  return { key: path.join(dir, `${prefix}signing-key.pem`), registrations: path.join(dir, `${prefix}signing-key.json`) };
}

/**
 * The member's key pair, or null when there is none yet.
 * @throws UdnsError `config_invalid` for an unreadable or malformed file, or one that others can read
 */
export function loadSigningKey(env: NodeJS.ProcessEnv = process.env): SigningKeyPair | null {
  const file = signingKeyFiles(env).key;
  let text: string;
  try {
    const stat = fs.statSync(file);
    // Like ssh: a private key others can read is not used (they could sign as this member).
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      throw new UdnsError('config_invalid', `${file} is readable by other users: run \`chmod 600 ${file}\``);
    }
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (error instanceof UdnsError) throw error;
    throw new UdnsError('config_invalid', `cannot read the signing key ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    return signingKeyFromPem(text);
  } catch {
    throw new UdnsError('config_invalid', `${file} is not an Ed25519 private key (PEM): move it aside and run \`udns login\` to make a new one`);
  }
}

/**
 * The member's key pair, made now when there is none (0600, created with O_EXCL so two commands
 * starting at once end with one key: the loser reads the winner's).
 */
export function loadOrCreateSigningKey(env: NodeJS.ProcessEnv = process.env): { pair: SigningKeyPair; created: boolean } {
  const existing = loadSigningKey(env);
  if (existing !== null) return { pair: existing, created: false };
  const file = signingKeyFiles(env).key;
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const pair = generateSigningKey();
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new UdnsError('config_invalid', `cannot create the signing key ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    const raced = loadWhenWritten(env);
    return { pair: raced, created: false };
  }
  try {
    fs.writeSync(fd, signingKeyPem(pair));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return { pair, created: true };
}

/** The key another process is writing right now (it created the file a moment ago). */
function loadWhenWritten(env: NodeJS.ProcessEnv): SigningKeyPair {
  const deadline = Date.now() + 2_000;
  for (;;) {
    try {
      const pair = loadSigningKey(env);
      if (pair !== null) return pair;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new UdnsError('config_invalid', `${signingKeyFiles(env).key} stays empty: remove it and run \`udns login\` again`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

/** Registers the public key at the edge (idempotent there) and notes it. Returns the edge's answer. */
export async function registerSigningKey(env: NodeJS.ProcessEnv, edge: EdgeTarget, pair: SigningKeyPair): Promise<{ account: string; created: boolean }> {
  let answer: z.infer<typeof RegisterKeyAnswer>;
  try {
    const parsed = RegisterKeyAnswer.safeParse(await callEdge<unknown>(edge, 'POST', '/api/v1/keys', { publicKey: pair.publicKey }));
    if (!parsed.success || parsed.data.key.keyId !== pair.keyId) throw new UdnsError('protocol_violation', 'the edge answered the key registration with an unexpected document');
    answer = parsed.data;
  } catch (error) {
    if (error instanceof UdnsError && error.code === 'not_found') {
      throw new UdnsError('not_found', `the edge at ${new URL(edge.server).origin} does not take signing keys (an older version?): paid files need an edge that does`);
    }
    throw error;
  }
  noteRegistration(env, pair, new URL(edge.server).origin, answer.key.account);
  return { account: answer.key.account, created: answer.created };
}

/**
 * The key pair, made and registered at `edge` when that has not happened yet: what commands that
 * sign (`udns get` of a paid file, `udns share --price`) call first. `created`: a new key file;
 * `registered`: the edge learnt the key in this call.
 */
export async function ensureSigningKey(env: NodeJS.ProcessEnv, edge: EdgeTarget): Promise<{ pair: SigningKeyPair; created: boolean; registered: boolean }> {
  const { pair, created } = loadOrCreateSigningKey(env);
  if (!created && isRegisteredAt(env, pair, new URL(edge.server).origin)) return { pair, created, registered: false };
  await registerSigningKey(env, edge, pair);
  return { pair, created, registered: true };
}

/** True when this key was registered at `origin` before (as far as this machine knows). */
export function isRegisteredAt(env: NodeJS.ProcessEnv, pair: SigningKeyPair, origin: string): boolean {
  const notes = readRegistrations(env);
  return notes !== null && notes.keyId === pair.keyId && notes.edges[origin] !== undefined;
}

function readRegistrations(env: NodeJS.ProcessEnv): Registrations | null {
  try {
    const parsed = Registrations.safeParse(JSON.parse(fs.readFileSync(signingKeyFiles(env).registrations, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    // Absent or broken: a note only, the next command registers again (idempotent at the edge).
    return null;
  }
}

function noteRegistration(env: NodeJS.ProcessEnv, pair: SigningKeyPair, origin: string, account: string): void {
  const file = signingKeyFiles(env).registrations;
  const before = readRegistrations(env);
  const notes: Registrations = { keyId: pair.keyId, edges: { ...(before?.keyId === pair.keyId ? before.edges : {}), [origin]: account } };
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(notes, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}
