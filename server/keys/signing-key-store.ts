import { PublicKeyText, UdnsError, keyIdOf, type KeyView } from '../../protocol/index.js';
import { storeDatabase, type AccountStore, type StoreDatabase } from '../accounts/account-store.js';
import type { LedgerLog } from '../ledger/ledger-log.js';
import { ledgerTx } from '../ledger/ledger-tx.js';

/** At most this many live keys per account: each registration is a ledger entry kept forever. */
export const MAX_KEYS_PER_ACCOUNT = 16;

/** A registered key with its owner, for checking signatures (offers, acceptances). */
export interface StoredKey extends KeyView {
  readonly accountId: number;
}

/** The transaction client `ledgerTx` hands its work (server/ledger/ledger-tx.ts). */
type Tx = Parameters<Parameters<StoreDatabase['prisma']['$transaction']>[0]>[0];

/**
 * How a registration reaches the ledger: run `work` in one transaction that holds the ledger
 * lock and append a `key` entry in it (server/ledger/: ledgerTx + LedgerLog.appendIn). Without
 * it (tests of this store alone) the row is written in a plain transaction.
 */
export interface KeyLedger {
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  /** Appends the `key` entry {kind: 'key', at, account: accountId, keyId, publicKey} concerning `accountId`. */
  recordKey(tx: Tx, entry: { accountId: number; account: string; keyId: string; publicKey: string; at: number }): Promise<void>;
}

/**
 * Members' public Ed25519 keys (issue 11, non-repudiation). A member registers the public part
 * of the key `udns login` made; offers and acceptances are checked against the signer's
 * registered keys. Several keys per account are allowed (one per machine), each recorded once
 * in the ledger; a key belongs to exactly one account, forever (publicKey and keyId are
 * unique), so a signature never changes owner.
 */
export interface SigningKeyStore {
  /**
   * Registers `publicKey` (base64 raw 32 bytes) for the account. The same key again is the
   * same row (`created: false`), no second ledger entry.
   * @throws UdnsError `bad_request` for a malformed key or past MAX_KEYS_PER_ACCOUNT live keys,
   *   `forbidden` when another account has it
   */
  register(account: { id: number; name: string }, publicKey: string): Promise<{ key: KeyView; created: boolean }>;
  /** The key with this id (revoked or not), or null. */
  byKeyId(keyId: string): Promise<StoredKey | null>;
  /** An account's keys, oldest first; revoked ones only with `includeRevoked`. */
  keysOf(accountId: number, options?: { includeRevoked?: boolean }): Promise<KeyView[]>;
  /** The id of the account named `name`, or null (GET /api/v1/keys/:account). */
  accountIdOf(name: string): Promise<number | null>;
  /** True when the account has at least one live key (a buyer needs one to accept). */
  hasActiveKey(accountId: number): Promise<boolean>;
  /**
   * The account's live key `keyId` as base64, or null when `keyId` is not one of its live keys:
   * what a verifier of a statement signed by that account needs.
   */
  activeKeyOf(accountId: number, keyId: string): Promise<string | null>;
}

const UNIQUE_VIOLATION = 'P2002';

/** Registrations recorded in the edge's ledger: each new key is a `key` entry in the transaction that stores it. */
export function keyLedgerOf(store: AccountStore, ledger: Pick<LedgerLog, 'appendIn'>): KeyLedger {
  const db = storeDatabase(store);
  return {
    transaction: (work) => ledgerTx(db, work),
    async recordKey(tx, entry) {
      await ledger.appendIn(tx, [{
        kind: 'key',
        body: { kind: 'key', at: entry.at, account: entry.accountId, keyId: entry.keyId, publicKey: entry.publicKey },
        parties: [entry.accountId],
      }]);
    },
  };
}

export function openSigningKeyStore(store: AccountStore, ledger?: KeyLedger): SigningKeyStore {
  const { prisma } = storeDatabase(store);
  const nameOf = async (accountId: number): Promise<string> => (await prisma.account.findUnique({ where: { id: accountId }, select: { name: true } }))?.name ?? '?';
  const view = (row: { keyId: string; publicKey: string; createdAt: Date; revokedAt: Date | null }, account: string): KeyView => ({
    keyId: row.keyId, publicKey: row.publicKey, account, createdAt: row.createdAt.toISOString(), revokedAt: row.revokedAt?.toISOString() ?? null,
  });

  const existing = async (account: { id: number; name: string }, publicKey: string): Promise<{ key: KeyView; created: false } | null> => {
    const row = await prisma.signingKey.findUnique({ where: { publicKey } });
    if (row === null) return null;
    if (row.accountId !== account.id) {
      throw new UdnsError('forbidden', 'this signing key is registered to another account: each account needs its own key (move signing-key.pem aside and run `udns login` again to make one)');
    }
    return { key: view(row, account.name), created: false };
  };

  return {
    async register(account, publicKey) {
      if (!PublicKeyText.safeParse(publicKey).success) throw new UdnsError('bad_request', 'publicKey must be a base64 raw 32-byte Ed25519 public key');
      const known = await existing(account, publicKey);
      if (known !== null) return known;
      const keyId = keyIdOf(publicKey);
      const insert = async (tx: Tx): Promise<KeyView> => {
        const live = await tx.signingKey.count({ where: { accountId: account.id, revokedAt: null } });
        if (live >= MAX_KEYS_PER_ACCOUNT) {
          throw new UdnsError('bad_request', `this account already has ${live} signing keys, the most it may have: use one of the machines that has one`);
        }
        const row = await tx.signingKey.create({ data: { accountId: account.id, publicKey, keyId } });
        await ledger?.recordKey(tx, { accountId: account.id, account: account.name, keyId, publicKey, at: row.createdAt.getTime() });
        return view(row, account.name);
      };
      try {
        const key = ledger === undefined ? await prisma.$transaction(insert) : await ledger.transaction(insert);
        return { key, created: true };
      } catch (error) {
        // Two registrations of the same key at once: the loser finds the winner's row.
        if ((error as { code?: unknown }).code !== UNIQUE_VIOLATION) throw error;
        const raced = await existing(account, publicKey);
        if (raced === null) throw error;
        return raced;
      }
    },

    async byKeyId(keyId) {
      const row = await prisma.signingKey.findUnique({ where: { keyId } });
      if (row === null) return null;
      return { ...view(row, await nameOf(row.accountId)), accountId: row.accountId };
    },

    async keysOf(accountId, options = {}) {
      const rows = await prisma.signingKey.findMany({
        where: { accountId, ...(options.includeRevoked ? {} : { revokedAt: null }) },
        orderBy: { id: 'asc' },
      });
      if (rows.length === 0) return [];
      const name = await nameOf(accountId);
      return rows.map((row) => view(row, name));
    },

    async accountIdOf(name) {
      return (await prisma.account.findUnique({ where: { name }, select: { id: true } }))?.id ?? null;
    },

    async hasActiveKey(accountId) {
      return (await prisma.signingKey.count({ where: { accountId, revokedAt: null } })) > 0;
    },

    async activeKeyOf(accountId, keyId) {
      const row = await prisma.signingKey.findUnique({ where: { keyId } });
      return row !== null && row.accountId === accountId && row.revokedAt === null ? row.publicKey : null;
    },
  };
}
