import { UdnsError } from '../../protocol/errors.js';
import {
  ConsistencyAnswer, LedgerEntryBody, LedgerKeyAnswer, ledgerLeafHash, MAX_LEDGER_PAGE, MineAnswer, SignedTreeHead, verifyTreeHead,
} from '../../protocol/ledger.js';
import { verifyConsistency, verifyInclusion } from '../../protocol/merkle.js';
import type { EdgeTarget } from '../client-config.js';
import { callEdge } from '../edge-api.js';
import { ledgerStatePath, readLedgerState, writeLedgerState, type LedgerState } from './ledger-state.js';

/** What one successful `udns ledger verify` checked. */
export interface LedgerVerification {
  readonly server: string;
  readonly keyId: string;
  /** True when this run pinned the edge's key (the first use). */
  readonly pinned: boolean;
  readonly head: SignedTreeHead;
  /** The head the previous run saw, which this one was shown to extend. */
  readonly previous: { treeSize: number; timestamp: number } | null;
  /** The caller's entries checked for inclusion, by kind. */
  readonly entries: number;
  readonly kinds: Record<string, number>;
  readonly stateFile: string;
}

/**
 * Checks the edge's ledger as a member: the newest signed head against the pinned key, its
 * consistency with the last head this client saw, and the inclusion of every entry concerning
 * the caller, each leaf hash recomputed from the body text. Remembers the head only when all of
 * it passed. @throws UdnsError hash_mismatch naming the first thing that failed
 */
export async function verifyLedger(edge: EdgeTarget, env: NodeJS.ProcessEnv = process.env): Promise<LedgerVerification> {
  const stateFile = ledgerStatePath(edge.server, env);
  const state = readLedgerState(stateFile);
  const key = parsed(LedgerKeyAnswer, await callEdge<unknown>(edge, 'GET', '/api/v1/ledger/key'), 'GET /api/v1/ledger/key');
  if (state !== null && (state.publicKey !== key.publicKey || state.keyId !== key.keyId)) {
    throw failure(`the edge's ledger key changed: pinned ${state.keyId} on ${state.pinnedAt}, now ${key.keyId}; if the operator replaced it on purpose (ask them), remove ${stateFile} to trust the new key`);
  }
  const publicKey = state?.publicKey ?? key.publicKey;

  const head = parsed(SignedTreeHead, await callEdge<unknown>(edge, 'GET', '/api/v1/ledger/head'), 'GET /api/v1/ledger/head');
  if (!verifyTreeHead(head, publicKey)) throw failure(`the tree head of size ${head.treeSize} is not signed by the pinned ledger key ${state?.keyId ?? key.keyId}`);
  const root = Buffer.from(head.rootHash, 'hex');

  const last = state?.head ?? null;
  if (last !== null) {
    const seen = `the head of size ${last.treeSize} seen on ${new Date(last.timestamp).toISOString()}`;
    if (head.treeSize < last.treeSize) throw failure(`the ledger shrank: the edge shows ${head.treeSize} entries, fewer than ${seen}`);
    if (head.treeSize === last.treeSize && head.rootHash !== last.rootHash) throw failure(`two different signed heads of size ${head.treeSize}: the ledger was rewritten since ${seen}`);
    if (head.treeSize > last.treeSize && last.treeSize > 0) {
      const query = new URLSearchParams({ first: String(last.treeSize), second: String(head.treeSize) });
      const answer = parsed(ConsistencyAnswer, await callEdge<unknown>(edge, 'GET', `/api/v1/ledger/consistency?${query}`), 'GET /api/v1/ledger/consistency');
      const proof = answer.proof.map((node) => Buffer.from(node, 'hex'));
      if (answer.first !== last.treeSize || answer.second !== head.treeSize || !verifyConsistency(last.treeSize, head.treeSize, Buffer.from(last.rootHash, 'hex'), root, proof)) {
        throw failure(`the ledger of ${head.treeSize} entries does not extend ${seen}: its history was rewritten`);
      }
    }
  }

  const kinds: Record<string, number> = {};
  let entries = 0;
  let after: number | undefined;
  for (;;) {
    const query = new URLSearchParams({ treeSize: String(head.treeSize), limit: String(MAX_LEDGER_PAGE) });
    if (after !== undefined) query.set('after', String(after));
    const page = parsed(MineAnswer, await callEdge<unknown>(edge, 'GET', `/api/v1/ledger/mine?${query}`), 'GET /api/v1/ledger/mine');
    if (page.treeSize !== head.treeSize) throw failure(`the edge answered for a tree of ${page.treeSize} entries, not the signed ${head.treeSize}`);
    for (const entry of page.entries) {
      if ((after !== undefined && entry.seq <= after) || entry.seq >= head.treeSize) throw failure(`seq ${entry.seq}: out of order or beyond the signed tree`);
      after = entry.seq;
      let body: LedgerEntryBody;
      try {
        body = LedgerEntryBody.parse(JSON.parse(entry.body));
      } catch {
        throw failure(`seq ${entry.seq}: the edge sent a body that is not a ledger entry`);
      }
      const leaf = Buffer.from(ledgerLeafHash(entry.body), 'hex');
      if (!verifyInclusion(leaf, entry.seq, head.treeSize, entry.proof.map((node) => Buffer.from(node, 'hex')), root)) {
        throw failure(`seq ${entry.seq}: your ${body.kind} entry is not in the signed tree of ${head.treeSize} entries (changed or moved after it was signed)`);
      }
      kinds[body.kind] = (kinds[body.kind] ?? 0) + 1;
      entries++;
    }
    if (page.next === null) break;
    after = page.next;
  }

  const now = new Date().toISOString();
  const next: LedgerState = {
    v: 1, server: edge.server, keyId: state?.keyId ?? key.keyId, publicKey, pinnedAt: state?.pinnedAt ?? now, head, verifiedAt: now,
  };
  writeLedgerState(stateFile, next);
  return {
    server: edge.server, keyId: next.keyId, pinned: state === null, head,
    previous: last === null ? null : { treeSize: last.treeSize, timestamp: last.timestamp },
    entries, kinds, stateFile,
  };
}

function failure(message: string): UdnsError {
  return new UdnsError('hash_mismatch', `ledger verification FAILED: ${message}`);
}

function parsed<T>(schema: { safeParse(value: unknown): { success: true; data: T } | { success: false } }, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new UdnsError('server_unreachable', `the edge answered ${what} with something else than the ledger's answer: is it an older udns edge?`);
  return result.data;
}
