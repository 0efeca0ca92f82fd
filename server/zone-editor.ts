import { validateName } from '../protocol/names.js';
import type { AccountStore } from './accounts/account-store.js';
import type { RecordChange } from './accounts/record-store.js';
import type { NameDirectory } from './name-directory.js';

/** The part of the store the editor writes through. */
export type ZoneStore = Pick<AccountStore, 'claimName' | 'releaseName' | 'addRecord' | 'setRecords' | 'removeRecords'>;

/**
 * Every change members make to names and records goes through here: the database first, then
 * the in-memory directory DNS answers from, so a change is visible in DNS as soon as the call
 * returns (and survives a restart). Arguments and results are the store's.
 */
export class ZoneEditor {
  /**
   * Edits run one at a time. With PostgreSQL, two edits' promises could resolve in another order
   * than the database committed them, and a release applied before a late record write let a
   * released name's records come back in DNS for its next owner (reproduced 2–3 times in 200).
   * Member edits are rare (a few per second at most), so one queue costs nothing noticeable.
   */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: ZoneStore,
    private readonly directory: NameDirectory,
  ) {}

  claimName(accountId: number, label: string): Promise<'claimed' | 'already-owned'> {
    return this.serialize(async () => {
      const outcome = await this.store.claimName(accountId, label);
      this.directory.add(validateName(label));
      return outcome;
    });
  }

  /** Releases a name; its records leave DNS with it. */
  releaseName(accountId: number, label: string): Promise<void> {
    return this.serialize(async () => {
      await this.store.releaseName(accountId, label);
      this.directory.remove(label.toLowerCase());
    });
  }

  addRecord(...args: Parameters<ZoneStore['addRecord']>): ReturnType<ZoneStore['addRecord']> {
    return this.serialize(() => this.store.addRecord(...args).then((change) => this.apply(change)));
  }

  setRecords(...args: Parameters<ZoneStore['setRecords']>): ReturnType<ZoneStore['setRecords']> {
    return this.serialize(() => this.store.setRecords(...args).then((change) => this.apply(change)));
  }

  removeRecords(...args: Parameters<ZoneStore['removeRecords']>): ReturnType<ZoneStore['removeRecords']> {
    return this.serialize(() => this.store.removeRecords(...args).then((change) => this.apply(change)));
  }

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work, work);
    // The queue only orders edits; one edit's failure is its caller's, not the next edit's.
    this.queue = result.catch(() => undefined);
    return result;
  }

  private apply<T extends RecordChange>(change: T): T {
    // Applied even when the store wrote nothing: it costs nothing and repairs any drift.
    this.directory.setRecordsAt(change.owner, change.records);
    return change;
  }
}
