/**
 * The edge's in-memory view of which labels are claimed, kept in step with the database by the
 * code that claims and releases names. DNS answers from it synchronously; the SOA serial moves
 * whenever it changes.
 */
export class NameDirectory {
  private readonly labels: Set<string>;
  private currentSerial: number;

  constructor(labels: Iterable<string>, now: Date = new Date()) {
    this.labels = new Set(labels);
    // Seconds since the epoch: grows across restarts without keeping state.
    this.currentSerial = Math.floor(now.getTime() / 1000);
  }

  isClaimed(label: string): boolean {
    return this.labels.has(label);
  }

  add(label: string): void {
    if (this.labels.has(label)) return;
    this.labels.add(label);
    this.bump();
  }

  remove(label: string): void {
    if (this.labels.delete(label)) this.bump();
  }

  serial(): number {
    return this.currentSerial;
  }

  private bump(): void {
    this.currentSerial = Math.max(this.currentSerial + 1, Math.floor(Date.now() / 1000));
  }
}
