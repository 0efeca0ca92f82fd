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
  constructor(
    private readonly store: ZoneStore,
    private readonly directory: NameDirectory,
  ) {}

  async claimName(accountId: number, label: string): Promise<'claimed' | 'already-owned'> {
    const outcome = await this.store.claimName(accountId, label);
    this.directory.add(validateName(label));
    return outcome;
  }

  /** Releases a name; its records leave DNS with it. */
  async releaseName(accountId: number, label: string): Promise<void> {
    await this.store.releaseName(accountId, label);
    this.directory.remove(label.toLowerCase());
  }

  addRecord(...args: Parameters<ZoneStore['addRecord']>): ReturnType<ZoneStore['addRecord']> {
    return this.store.addRecord(...args).then((change) => this.apply(change));
  }

  setRecords(...args: Parameters<ZoneStore['setRecords']>): ReturnType<ZoneStore['setRecords']> {
    return this.store.setRecords(...args).then((change) => this.apply(change));
  }

  removeRecords(...args: Parameters<ZoneStore['removeRecords']>): ReturnType<ZoneStore['removeRecords']> {
    return this.store.removeRecords(...args).then((change) => this.apply(change));
  }

  private apply<T extends RecordChange>(change: T): T {
    // Applied even when the store wrote nothing: it costs nothing and repairs any drift.
    this.directory.setRecordsAt(change.owner, change.records);
    return change;
  }
}
