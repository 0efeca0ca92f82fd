import { createHash } from 'node:crypto';
import { expect, test } from 'vitest';
import { renderMemberPage } from './member-page.js';

const base = { domain: 'example.net' };

test('its one inline stylesheet is what the CSP allows; no script', () => {
  const { html, csp } = renderMemberPage({ ...base, view: 'member', account: 'alice', trust: { score: null, ratings: 0, disputesLost: 0 }, ratings: [], shares: [] });
  const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
  expect(csp).toContain(`style-src 'sha256-${createHash('sha256').update(style).digest('base64')}'`);
  expect(csp).toContain("script-src 'none'");
  expect(html).not.toContain('<script');
  expect(html).toContain('No ratings yet');
});

test('score, disputes, ratings with escaped comments, and listed shares', () => {
  const evil = '<img src=x onerror=alert(1)>"\'';
  const { html } = renderMemberPage({
    ...base, view: 'member', account: 'alice', trust: { score: 4.3, ratings: 12, disputesLost: 1 },
    ratings: [{ rater: 'bob', score: 4, comment: evil, createdAt: '2026-12-01T10:00:00.000Z' }, { rater: 'carol', score: 5, comment: '', createdAt: '2026-11-30T10:00:00.000Z' }],
    shares: [{ label: 'alice-talks', url: 'https://alice-talks.example.net/', online: true, locked: false, entries: 3 }, { label: 'alice-vault', url: 'https://alice-vault.example.net/', online: false, locked: true, entries: 1 }],
  });
  expect(html).toContain('<div class="score" id="score">4.3<span class="muted"> / 5</span></div><div class="muted">trust 4.3/5 (12 ratings, 1 dispute lost)</div>');
  expect(html).toContain('1 purchase was refunded after a proof');
  expect(html).toContain('<span class="stars" title="4 of 5">★★★★☆</span> <b>bob</b> <span class="muted">2026-12-01</span>');
  expect(html).not.toContain('<img');
  expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;&quot;&#39;');
  expect(html).toContain('<a href="https://alice-talks.example.net/">alice-talks</a><span class="badge badge-online">online</span> <span class="muted">3 files</span>');
  expect(html).toContain('alice-vault</a><span class="badge badge-lock">🔒 password</span><span class="badge badge-offline">offline</span> <span class="muted">1 file</span>');
});

test('an unknown member and the sign-in hint escape the name', () => {
  expect(renderMemberPage({ ...base, view: 'missing', account: '<b>x' }).html).toContain('no member named <b>&lt;b&gt;x</b>');
  expect(renderMemberPage({ ...base, view: 'signIn' }).html).toContain('<a href="/search">sign in on the search page</a>');
});
