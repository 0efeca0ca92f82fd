import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import type { SearchHitView } from '../../protocol/search-api.js';
import { renderSearchPage } from './search-page.js';

const base = { domain: 'example.net', apexUrl: 'https://example.net', mode: 'members' as const };

function hit(overrides: Partial<SearchHitView> = {}): SearchHitView {
  return {
    name: 'a.pdf', folder: '/docs/', path: '/docs/a.pdf', size: 1536, modified: '2026-11-30T10:00:00.000Z', type: 'application/pdf',
    owner: 'alice', share: 'alice-docs', locked: false, online: true, via: 'direct', sha256: null, price: null, trust: { score: null, ratings: 0, disputesLost: 0 },
    url: 'https://alice-docs.example.net/docs/a.pdf', score: 1, ...overrides,
  };
}

describe('the search page', () => {
  test('its one inline stylesheet is exactly what the CSP allows, and no script may run', () => {
    const { html, csp } = renderSearchPage({ ...base, view: 'results', form: {}, member: null });
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    expect(csp).toContain(`style-src 'sha256-${createHash('sha256').update(style).digest('base64')}'`);
    expect(csp).toContain("script-src 'none'");
    expect(html).not.toContain('<script');
  });

  test('names, folders, owners and typed values are escaped', () => {
    const evil = '<img src=x onerror=alert(1)>"\'';
    const { html } = renderSearchPage({
      ...base, view: 'results', member: 'alice', form: { q: evil, owner: evil },
      result: { words: [evil], total: 1, truncated: false, limit: 20, offset: 0, offlineHidden: false, hits: [hit({ name: evil, folder: `/${evil}/`, share: 'x', owner: 'bob', type: 'text/plain' })] },
    });
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;&quot;&#39;');
  });

  test('lock and offline marks, sizes, the download link and pagination that keeps the filters', () => {
    const { html } = renderSearchPage({
      ...base, view: 'results', member: null, form: { q: 'report', type: 'pdf', minSize: '' },
      result: {
        words: ['report'], total: 45, truncated: false, limit: 20, offset: 20, offlineHidden: false,
        hits: [hit({ locked: true }), hit({ name: 'b.pdf', online: false, via: null, path: '/docs/b.pdf', url: 'https://alice-docs.example.net/docs/b.pdf' })],
      },
    });
    expect(html).toContain('🔒 password');
    expect(html).toContain('badge-offline');
    expect(html).toContain('1.5 KB');
    expect(html).toContain('href="https://alice-docs.example.net/docs/a.pdf?download"');
    expect(html).toContain('45 files · showing 21–22');
    expect(html).toContain('href="/search?q=report&amp;type=pdf"');
    expect(html).toContain('href="/search?q=report&amp;type=pdf&amp;offset=22"');
    expect(html).toContain('<option value="pdf" selected>');
  });

  test('a paid file shows its price, its seller\'s trust and the udns get command instead of a download link', () => {
    const { html } = renderSearchPage({
      ...base, view: 'results', member: null, form: { q: 'a' },
      result: {
        words: ['a'], total: 3, truncated: false, limit: 20, offset: 0, offlineHidden: false,
        hits: [
          hit({ price: 50, trust: { score: 4.3, ratings: 12, disputesLost: 1 } }),
          hit({ name: 'b.pdf', price: 1, path: '/docs/b.pdf', url: 'https://alice-docs.example.net/docs/b.pdf' }),
          hit({ name: 'c.pdf', owner: 'bob', path: '/docs/c.pdf', url: 'https://alice-docs.example.net/docs/c.pdf' }),
        ],
      },
    });
    const items = html.split('<li class="hit').slice(1);
    expect(items[0]).toContain('<span class="badge badge-price"');
    expect(items[0]).toContain('50 credits</span>');
    expect(items[0]).toContain('by <a class="owner" href="/members/alice"><b>alice</b></a> <span class="trust">(trust 4.3/5 (12 ratings, 1 dispute lost))</span>');
    expect(items[0]).toContain('<code class="buy" title="buy it through the edge\'s escrow">udns get https://alice-docs.example.net/docs/a.pdf</code>');
    expect(items[0]).not.toContain('?download');
    expect(items[1]).toContain('1 credit</span>');
    expect(items[1]).toContain('(no ratings yet)');
    // A free file of an owner without ratings: no price, no trust words, the download link.
    expect(items[2]).not.toContain('badge-price');
    expect(items[2]).not.toContain('class="trust"');
    expect(items[2]).toContain('c.pdf?download');
  });

  test('a truncated total reads N+ and asks for more words', () => {
    const { html } = renderSearchPage({
      ...base, view: 'results', member: null, form: { q: 'a' },
      result: { words: ['a'], total: 5000, truncated: true, limit: 20, offset: 0, offlineHidden: true, hits: [hit()] },
    });
    expect(html).toContain('5000+ files · showing 1–1 (files of offline members are not shown) · too many to rank them all: add words');
  });

  test('members mode without a token shows the sign-in form; search off says so', () => {
    const signIn = renderSearchPage({ ...base, view: 'signIn', notice: 'That token was rejected' }).html;
    expect(signIn).toContain('<form method="post" action="/search/login"');
    expect(signIn).toContain('That token was rejected');
    expect(renderSearchPage({ ...base, mode: 'off', view: 'off' }).html).toContain('does not offer search');
  });
});
