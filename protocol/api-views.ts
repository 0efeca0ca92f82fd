/*
 * Shapes of the edge's JSON API answers about names, shared by the edge (which builds them) and
 * the CLI (which prints them).
 */

/** A DNS record as the API shows it. */
export interface RecordView {
  /** Relative to the zone: `alice`, `www.alice`. */
  owner: string;
  /** The full DNS name: `www.alice.example.net`. */
  fqdn: string;
  type: string;
  value: string;
  ttl: number;
}

/** A name as the API shows it. */
export interface NameView {
  name: string;
  url: string;
  /** A tunnel serves the name right now. */
  online: boolean;
  createdAt: string;
  records: RecordView[];
}
