import { describe, expect, it } from 'vitest';
import { EdgeMetrics } from './edge-metrics.js';

function metrics(maxNames: number): EdgeMetrics {
  return new EdgeMetrics({
    agents: () => 0,
    routes: () => 0,
    tokenChecks: () => ({ rejected: 0, throttled: 0 }),
    certificate: async () => null,
  }, { maxNames, defaultMetrics: false });
}

function series(text: string, metric: string, label: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const match of text.matchAll(new RegExp(`^${metric}\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
    const labelValue = new RegExp(`${label}="([^"]*)"`).exec(match[1]!)![1]!;
    if (!match[1]!.includes('direction="out"')) continue;
    values.set(labelValue, (values.get(labelValue) ?? 0) + Number(match[2]));
  }
  return values;
}

describe('EdgeMetrics byte labels', () => {
  it('1,000 names on 300 accounts stay within the label budget, "other" holds the rest, totals whole, counters never go back', async () => {
    const edge = metrics(100);
    let total = 0;
    for (let i = 0; i < 1000; i++) {
      edge.traffic.add(`account-${i % 300}`, `name-${i}`, i, 2 * i + 1);
      total += 2 * i + 1;
    }
    const first = await edge.text();
    const names = series(first, 'udns_name_bytes_total', 'name');
    const accounts = series(first, 'udns_account_bytes_total', 'account');
    expect(names.size).toBe(101);
    expect(accounts.size).toBe(101);
    expect(names.has('other') && accounts.has('other')).toBe(true);
    expect([...names.values()].reduce((a, b) => a + b, 0)).toBe(total);
    expect([...accounts.values()].reduce((a, b) => a + b, 0)).toBe(total);

    // More traffic on names that already have a label and on ones that never will: every series only grows.
    edge.traffic.add('account-0', 'name-0', 0, 5);
    edge.traffic.add('account-299', 'name-999', 0, 7);
    edge.traffic.add('account-new', 'name-new', 0, 11);
    const second = series(await edge.text(), 'udns_name_bytes_total', 'name');
    expect(second.size).toBe(101);
    for (const [label, value] of names) expect(second.get(label)!).toBeGreaterThanOrEqual(value);
    expect(second.get('name-0')).toBe(names.get('name-0')! + 5);
    expect(second.get('other')).toBe(names.get('other')! + 7 + 11);
  });

  it('DNS queries by transport, type and rcode from the wire bytes', async () => {
    const edge = metrics(10);
    const query = (type: number): Buffer => Buffer.concat([Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4]), Buffer.from('site'), Buffer.from([0, type >> 8, type & 0xff, 0, 1])]);
    const answer = (rcode: number): Buffer => Buffer.from([0, 1, 0x84, rcode, 0, 1, 0, 0, 0, 0, 0, 0]);
    edge.dns.count('udp', query(1), answer(0));
    edge.dns.count('udp', query(1), answer(0));
    edge.dns.count('tcp', query(28), answer(3));
    edge.dns.count('udp', query(99), null);
    edge.dns.count('udp', Buffer.from([1, 2, 3]), null);
    const text = await edge.text();
    expect(text).toContain('udns_dns_queries_total{transport="udp",type="A",rcode="NOERROR"} 2');
    expect(text).toContain('udns_dns_queries_total{transport="tcp",type="AAAA",rcode="NXDOMAIN"} 1');
    expect(text).toContain('udns_dns_queries_total{transport="udp",type="other",rcode="dropped"} 1');
    expect(text).toContain('udns_dns_queries_total{transport="udp",type="malformed",rcode="dropped"} 1');
  });
});
