import { setTimeout as sleep } from 'node:timers/promises';
import type { SeededRandom } from '../helpers/seeded-random.js';
import { CHAOS_TARGETS, type ChaosTarget, type ChaosWorld } from './chaos-world.js';

/** One fault: SIGKILL then a restart after `pauseMs`, or SIGSTOP for `pauseMs` then SIGCONT. */
export interface Fault {
  target: ChaosTarget;
  kind: 'kill' | 'stop';
  pauseMs: number;
}

export function describeFault(fault: Fault): string {
  return fault.kind === 'kill'
    ? `SIGKILL ${fault.target}, restart after ${fault.pauseMs} ms`
    : `SIGSTOP ${fault.target} for ${fault.pauseMs} ms, then SIGCONT`;
}

/**
 * Picks faults. `deck` (the fast run) deals each kind of fault once in a random order, so a
 * short run still kills the edge and both agents and freezes one; `random` (the long run)
 * draws target and kind independently, with freezes both shorter and longer than the 20 s
 * heartbeat bound, so the edge and the agents each have to notice a frozen peer.
 */
export class FaultPicker {
  private readonly deck: Fault[];
  /** Faults the deck held at the start (the fast run's rounds). */
  readonly deckSize: number;

  constructor(private readonly random: SeededRandom, private readonly mode: 'deck' | 'random', private readonly maxStopMs: number) {
    this.deck = random.shuffle<Fault>([
      { target: 'edge', kind: 'kill', pauseMs: random.int(0, 1500) },
      { target: 'web-agent', kind: 'kill', pauseMs: random.int(0, 1000) },
      { target: 'share-agent', kind: 'kill', pauseMs: random.int(0, 1000) },
      { target: random.pick(CHAOS_TARGETS), kind: 'stop', pauseMs: random.int(200, maxStopMs) },
    ]);
    this.deckSize = this.deck.length;
  }

  next(): Fault {
    if (this.mode === 'deck') {
      const fault = this.deck.shift();
      if (!fault) throw new Error('the fault deck is empty');
      return fault;
    }
    const target = this.random.pick(CHAOS_TARGETS);
    if (this.random.chance(0.55)) return { target, kind: 'kill', pauseMs: this.random.int(0, 3000) };
    const longFreeze = this.random.chance(0.4);
    return { target, kind: 'stop', pauseMs: longFreeze ? this.random.int(Math.min(20_000, this.maxStopMs), this.maxStopMs) : this.random.int(200, 5000) };
  }
}

/** Applies a fault and undoes it (restart, or SIGCONT); resolves when the target runs again. */
export async function applyFault(world: ChaosWorld, fault: Fault): Promise<void> {
  if (fault.kind === 'stop') {
    world.signal(fault.target, 'SIGSTOP');
    await sleep(fault.pauseMs);
    world.signal(fault.target, 'SIGCONT');
    return;
  }
  await world.kill(fault.target);
  await sleep(fault.pauseMs);
  await world.restart(fault.target);
}
