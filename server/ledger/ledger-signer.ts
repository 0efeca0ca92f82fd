import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { UdnsError } from '../../protocol/errors.js';
import { treeHeadStatement, type SignedTreeHead } from '../../protocol/ledger.js';
import { generateSigningKey, signingKeyFromPem, signingKeyPem, signStatement, type SigningKeyPair } from '../../protocol/signing.js';
import type { Logger } from '../logger.js';

/*
 * The edge's ledger key: an Ed25519 key pair that signs tree heads and receipts. It lives in
 * `<dataDir>/ledger-key.pem` (PKCS#8, mode 0600), made on the first start. Edges sharing one
 * database should share this file too: members pin one key (trust on first use).
 */

export const LEDGER_KEY_FILE = 'ledger-key.pem';

/**
 * Loads `<dataDir>/ledger-key.pem`, making it first when missing. A new key is written whole to
 * a private temporary file and linked into place, which fails if the name exists (like O_EXCL):
 * two edges starting at once on one data directory end up with the same key, and nobody ever
 * reads a half-written file.
 * @throws UdnsError config_invalid when the file cannot be read or made, or is not an Ed25519 key
 */
export function loadLedgerKey(dataDir: string, logger: Logger): SigningKeyPair {
  const file = path.join(dataDir, LEDGER_KEY_FILE);
  try {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new UdnsError('config_invalid', `cannot create ${dataDir} for the ledger key: ${(error as Error).message}; point dataDir at a writable place`, { cause: error });
  }
  const existing = readKey(file, logger);
  if (existing !== null) return existing;
  const pair = generateSigningKey();
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = fs.openSync(temporary, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    try {
      fs.writeSync(fd, signingKeyPem(pair));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(temporary, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // Another process made it first: its key is the key.
      const theirs = readKey(file, logger);
      if (theirs === null) throw error;
      return theirs;
    }
    // Debug, not info: the rooms open before the listeners bind, and an edge that then cannot
    // bind must fail with its one line. The key id is in every tree head and at /api/v1/ledger/key.
    logger.debug({ file, keyId: pair.keyId }, 'made the ledger signing key');
    return pair;
  } catch (error) {
    if (error instanceof UdnsError) throw error;
    throw new UdnsError('config_invalid', `cannot write the ledger key ${file}: ${(error as Error).message}; make dataDir writable`, { cause: error });
  } finally {
    fs.rmSync(temporary, { force: true });
  }
}

function readKey(file: string, logger: Logger): SigningKeyPair | null {
  let pem: string;
  try {
    const stat = fs.statSync(file);
    if ((stat.mode & 0o077) !== 0) logger.warn({ file, mode: (stat.mode & 0o777).toString(8) }, 'the ledger key is readable by others: chmod 600 it');
    pem = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UdnsError('config_invalid', `cannot read the ledger key ${file}: ${(error as Error).message}`, { cause: error });
  }
  try {
    return signingKeyFromPem(pem);
  } catch (error) {
    throw new UdnsError('config_invalid', `${file} is not an Ed25519 private key (PKCS#8 PEM): restore it from a backup, or move it away to make a new one (members who pinned the old key will then refuse the ledger)`, { cause: error });
  }
}

/** Signs the head of a tree of `treeSize` leaves with root `rootHash` (hex) at `timestamp` (ms). */
export function signTreeHead(pair: SigningKeyPair, treeSize: number, rootHash: string, timestamp: number): SignedTreeHead {
  const body = treeHeadStatement({ treeSize, rootHash, timestamp });
  const statement = signStatement('tree-head', body, pair);
  return { ...body, keyId: statement.keyId, signature: statement.signature };
}
