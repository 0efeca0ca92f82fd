import express, { type Response } from 'express';
import { RegisterKeyRequest, UdnsError, type KeyView } from '../../protocol/index.js';
import type { AccountInfo } from '../accounts/account-store.js';
import { parseBody } from '../api/names-api.js';
import type { SigningKeyStore } from './signing-key-store.js';

/** POST /api/v1/keys's answer. */
export interface RegisterKeyAnswer {
  key: KeyView;
  /** False when the key was already registered to the caller (nothing changed). */
  created: boolean;
}

/** GET /api/v1/keys/:account's answer. */
export interface AccountKeysAnswer {
  account: string;
  keys: KeyView[];
}

const ACCOUNT_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

/**
 * `POST /api/v1/keys` {publicKey}: registers the caller's public signing key (201 when new,
 * 200 when it already was). `GET /api/v1/keys/:account`: every key an account ever
 * registered, revoked ones with their `revokedAt`, so anyone can check an old receipt's
 * signatures. Mounted behind the bearer-token check, which puts the account in `res.locals`.
 */
export function createKeysRouter(keys: SigningKeyStore): express.Router {
  const router = express.Router();

  router.post('/keys', express.json({ limit: '4kb' }), async (req, res: Response) => {
    const body = parseBody(RegisterKeyRequest, req.body);
    const answer: RegisterKeyAnswer = await keys.register(res.locals.account as AccountInfo, body.publicKey);
    res.status(answer.created ? 201 : 200).json(answer);
  });

  router.get('/keys/:account', async (req, res: Response) => {
    const name = String(req.params.account);
    const id = ACCOUNT_NAME.test(name) ? await keys.accountIdOf(name) : null;
    if (id === null) throw new UdnsError('not_found', `no account named "${name.slice(0, 40)}"`);
    const answer: AccountKeysAnswer = { account: name, keys: await keys.keysOf(id, { includeRevoked: true }) };
    res.json(answer);
  });
  return router;
}
