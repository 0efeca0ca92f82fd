/**
 * How visitors reach this edge: builds the public URLs printed to agents and shown in status.
 * Derived from `--public-url` when set, else from the domain and the HTTP port actually bound.
 */
export class PublicUrls {
  /** `http` or `https`: what visitors use, as --public-url says (a TLS proxy may sit in front). */
  readonly scheme: 'http' | 'https';
  private readonly portSuffix: string;

  constructor(readonly domain: string, httpPort: number, publicUrl?: string, httpsPort?: number) {
    if (publicUrl) {
      const url = new URL(publicUrl);
      this.scheme = url.protocol === 'https:' ? 'https' : 'http';
      this.portSuffix = url.port ? `:${url.port}` : '';
    } else if (httpsPort !== undefined) {
      this.scheme = 'https';
      this.portSuffix = httpsPort === 443 ? '' : `:${httpsPort}`;
    } else {
      this.scheme = 'http';
      this.portSuffix = httpPort === 80 ? '' : `:${httpPort}`;
    }
  }

  /** e.g. `http://alice.localhost:8080` */
  forName(label: string): string {
    return `${this.scheme}://${label}.${this.domain}${this.portSuffix}`;
  }

  /** The edge's own address, e.g. `http://localhost:8080` */
  apex(): string {
    return `${this.scheme}://${this.domain}${this.portSuffix}`;
  }

  /** e.g. `tcp://localhost:20001` */
  forTcp(port: number): string {
    return `tcp://${this.domain}:${port}`;
  }
}
