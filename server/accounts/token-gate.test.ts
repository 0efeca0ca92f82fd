import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openAccountStore, type AccountStore } from './account-store.js';
import { AUTH_FAILURE_LIMITS } from './auth-failure-throttle.js';
import { TokenGate, type TokenGateOptions } from './token-gate.js';
import { generateToken } from './token-secret.js';

const GUESSER = '198.51.100.66';
const { burst, refillMs } = AUTH_FAILURE_LIMITS;

describe('token gate', () => {
  let store: AccountStore;
  let dataDir: string;
  let aliceToken: string;
  let bobToken: string;
  let lookups = 0;
  // The real store, with every query it is asked counted: what the gate saves is visible here.
  const counted = { authenticate: (token: string) => { lookups++; return store.authenticate(token); } };

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'udns-gate-'));
    store = await openAccountStore({ dataDir });
    aliceToken = (await store.createAccount('alice')).token;
    bobToken = (await store.createAccount('bob')).token;
  });
  afterAll(() => store?.close());

  function gateWithClock(options: TokenGateOptions = {}): { gate: TokenGate; advance: (ms: number) => void } {
    let nowMs = 5_000_000;
    return { gate: new TokenGate(counted, { now: () => nowMs, ...options }), advance: (ms) => { nowMs += ms; } };
  }

  async function flood(gate: TokenGate, address: string, count: number): Promise<void> {
    for (let i = 0; i < count; i++) await gate.check(generateToken(), address);
  }

  test('a flood of wrong tokens: the first 20 are looked up, the rest refused unchecked until the budget refills', async () => {
    const { gate, advance } = gateWithClock();
    lookups = 0;
    const verdicts = [];
    for (let i = 0; i < 200; i++) verdicts.push(await gate.check(generateToken(), GUESSER));
    expect(verdicts.slice(0, burst).every((verdict) => verdict.kind === 'rejected')).toBe(true);
    expect(verdicts.slice(burst)).toEqual(Array.from({ length: 200 - burst }, () => ({ kind: 'throttled', retryAfterSeconds: 5 })));
    expect(lookups).toBe(burst);
    expect(gate.stats()).toEqual({ lookups: burst, rejected: burst, throttled: 200 - burst });
    // Another network is not affected.
    expect(await gate.check(aliceToken, '198.51.100.67')).toMatchObject({ kind: 'accepted', account: { name: 'alice' } });

    advance(refillMs);
    expect((await gate.check(generateToken(), GUESSER)).kind).toBe('rejected');
    expect((await gate.check(generateToken(), GUESSER)).kind).toBe('throttled');
    expect(lookups).toBe(burst + 2);
  });

  test('malformed tokens never reach the store, and count as failures', async () => {
    const { gate } = gateWithClock();
    lookups = 0;
    for (const malformed of ['udns_short', 'x'.repeat(48), `udns_${'A'.repeat(42)}!`, '']) {
      expect(await gate.check(malformed, GUESSER)).toEqual({ kind: 'rejected' });
    }
    for (let i = 0; i < burst - 4; i++) await gate.check('not-a-token', GUESSER);
    expect(await gate.check('not-a-token', GUESSER)).toEqual({ kind: 'throttled', retryAfterSeconds: 5 });
    expect(lookups).toBe(0);
  });

  test('a token that worked recently still works from a throttled network; one never seen waits like a guess', async () => {
    const { gate } = gateWithClock();
    expect((await gate.check(aliceToken, GUESSER)).kind).toBe('accepted');
    await flood(gate, GUESSER, 50);
    lookups = 0;
    for (let i = 0; i < 5; i++) expect(await gate.check(aliceToken, GUESSER)).toMatchObject({ kind: 'accepted', account: { name: 'alice' } });
    expect(lookups).toBe(5);
    // Known tokens do not refill the guessers' budget.
    expect((await gate.check(generateToken(), GUESSER)).kind).toBe('throttled');
    expect(await gate.check(bobToken, GUESSER)).toEqual({ kind: 'throttled', retryAfterSeconds: 5 });
    expect(lookups).toBe(5);
  });

  test('a known token revoked from another process is refused at once, then throttled like any other', async () => {
    const { gate } = gateWithClock();
    const carol = await store.createAccount('carol');
    expect((await gate.check(carol.token, GUESSER)).kind).toBe('accepted');
    await flood(gate, GUESSER, 50);
    // `udns account revoke-token` beside the edge: its own connection to the same database.
    const beside = await openAccountStore({ dataDir });
    await beside.revokeToken('carol', carol.token);
    await beside.close();
    expect(await gate.check(carol.token, GUESSER)).toEqual({ kind: 'rejected' });
    expect(await gate.check(carol.token, GUESSER)).toEqual({ kind: 'throttled', retryAfterSeconds: 5 });
  });

  test('known tokens expire, and with the memory off every token waits while the network is throttled', async () => {
    const { gate, advance } = gateWithClock({ knownTokenTtlMs: 60_000 });
    expect((await gate.check(aliceToken, GUESSER)).kind).toBe('accepted');
    await flood(gate, GUESSER, 50);
    advance(59_000);
    expect((await gate.check(aliceToken, GUESSER)).kind).toBe('accepted');
    advance(60_001);
    await flood(gate, GUESSER, 50);
    expect((await gate.check(aliceToken, GUESSER)).kind).toBe('throttled');

    const { gate: forgetful } = gateWithClock({ knownTokens: 0 });
    expect((await forgetful.check(aliceToken, GUESSER)).kind).toBe('accepted');
    await flood(forgetful, GUESSER, 50);
    expect((await forgetful.check(aliceToken, GUESSER)).kind).toBe('throttled');
  });

  test('concurrent guesses cannot run past the budget while their lookups are pending', async () => {
    const { gate } = gateWithClock();
    lookups = 0;
    const verdicts = await Promise.all(Array.from({ length: 300 }, () => gate.check(generateToken(), GUESSER)));
    expect(lookups).toBe(burst);
    expect(verdicts.filter((verdict) => verdict.kind === 'throttled')).toHaveLength(300 - burst);
  });

  test('a failing store is not the client\'s failure', async () => {
    let broken = true;
    const flaky = { authenticate: async (token: string) => { if (broken) throw new Error('database is locked'); return store.authenticate(token); } };
    const gate = new TokenGate(flaky);
    for (let i = 0; i < burst * 2; i++) await expect(gate.check(generateToken(), GUESSER)).rejects.toThrow('database is locked');
    broken = false;
    expect((await gate.check(generateToken(), GUESSER)).kind).toBe('rejected');
  });
});
