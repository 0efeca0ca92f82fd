import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import type { ShareEntry } from '../../../protocol/share-api.js';
import { formatDuration, formatSize, formatUtc } from './human-format.js';
import { LISTING_PAGE_CSP, renderListingPage, type ListingPageModel } from './listing-page.js';
import { LISTING_SCRIPT } from './listing-script.js';

const entries: ShareEntry[] = [
  { name: 'sub folder', type: 'dir', size: 0, modified: '2025-03-10T08:12:00.000Z' },
  { name: '한글 파일.txt', type: 'file', size: 1_258_291, modified: '2025-03-12T09:30:00.000Z' },
  { name: '<img src=x onerror=alert(1)>.txt', type: 'file', size: 12, modified: '2025-03-01T12:00:00.000Z' },
  { name: `Tom & "Jerry's".png`, type: 'file', size: 0, modified: '2025-03-01T12:00:00.000Z' },
];

function page(overrides: Partial<ListingPageModel> = {}): string {
  return renderListingPage({
    title: 'alice.localhost', path: '/', entries, sort: 'name', order: 'asc',
    allowUpload: false, passwordProtected: false, ...overrides,
  }, new Date('2025-03-14T10:00:00.000Z'));
}

/** The link targets of a page, attribute escaping undone. */
function hrefs(html: string): string[] {
  const unescape = (text: string): string => text.replace(/&(amp|quot|#39|lt|gt);/g, (_, name: string) => ({ amp: '&', quot: '"', '#39': "'", lt: '<', gt: '>' })[name]!);
  return [...html.matchAll(/<a [^>]*href="([^"]*)"/g)].map((match) => unescape(match[1]!));
}

describe('renderListingPage', () => {
  test('a name with markup appears escaped, never raw', () => {
    const html = page();
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;.txt');
    expect(html).toContain('data-name="&lt;img src=x onerror=alert(1)&gt;.txt"');
    expect(html).toContain('Tom &amp; &quot;Jerry&#39;s&quot;.png');
  });

  test('the title and notice are escaped too', () => {
    const html = page({ title: '<b>host</b>', notice: 'Saved "<script>"' });
    expect(html).not.toContain('<b>host</b>');
    expect(html).not.toContain('"<script>"');
    expect(html).toContain('Saved &quot;&lt;script&gt;&quot;');
  });

  test('Korean names and spaces are percent-encoded in every link, path included', () => {
    const html = page({ path: '/a b/한글/' });
    const links = hrefs(html);
    expect(links).toContain('/a%20b/%ED%95%9C%EA%B8%80/%ED%95%9C%EA%B8%80%20%ED%8C%8C%EC%9D%BC.txt');
    expect(links).toContain('/a%20b/%ED%95%9C%EA%B8%80/%ED%95%9C%EA%B8%80%20%ED%8C%8C%EC%9D%BC.txt?download');
    expect(links).toContain('/a%20b/%ED%95%9C%EA%B8%80/sub%20folder/');
    expect(links).toContain('/a%20b/%ED%95%9C%EA%B8%80/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E.txt');
    expect(links).toContain('/a%20b/%ED%95%9C%EA%B8%80/?zip');
    for (const link of links.filter((href) => href.startsWith('/'))) {
      expect(link).toMatch(/^[A-Za-z0-9%/._~!*'()?=&-]*$/);
    }
  });

  test('breadcrumbs link every folder above the current one', () => {
    const html = page({ path: '/a b/한글/' });
    const crumbs = html.match(/<nav class="crumbs"[^]*?<\/nav>/)![0];
    expect(hrefs(crumbs)).toEqual(['/', '/a%20b/']);
    expect(crumbs).toContain('<span aria-current="page">한글</span>');
    expect(crumbs).toContain('alice.localhost');
  });

  test('column headers link to their sort, toggling the order of the current one', () => {
    const links = hrefs(page({ sort: 'name', order: 'asc', path: '/docs/' }));
    expect(links).toContain('/docs/?sort=name&order=desc');
    expect(links).toContain('/docs/?sort=size&order=desc');
    expect(links).toContain('/docs/?sort=modified&order=desc');
    const bySize = page({ sort: 'size', order: 'desc' });
    expect(hrefs(bySize)).toContain('/?sort=size&order=asc');
    expect(hrefs(bySize)).toContain('/?sort=name&order=asc');
    expect(bySize).toMatch(/<th class="col-size" aria-sort="descending">/);
    expect(bySize).not.toMatch(/<th class="col-name" aria-sort/);
  });

  test('rows keep the server order, one per entry, with sizes and times people read', () => {
    const html = page();
    const names = [...html.matchAll(/<tr data-name="([^"]*)" data-type="(file|dir)"/g)].map((match) => match[1]);
    expect(names).toEqual(['sub folder', '한글 파일.txt', '&lt;img src=x onerror=alert(1)&gt;.txt', 'Tom &amp; &quot;Jerry&#39;s&quot;.png']);
    expect(html).toContain('1.2 MB');
    expect(html).toContain('<time datetime="2025-03-12T09:30:00.000Z">2025-03-12 09:30 UTC</time>');
    expect(html).toContain('id="listing"');
  });

  test('the parent row appears only below the root and points one folder up', () => {
    expect(page({ path: '/' })).not.toContain('parent-row');
    expect(hrefs(page({ path: '/a/b c/' }).match(/<tr class="parent-row">.*?<\/tr>/)![0])).toEqual(['/a/']);
    expect(hrefs(page({ path: '/a/' }).match(/<tr class="parent-row">.*?<\/tr>/)![0])).toEqual(['/']);
  });

  test('a summary counts folders and files', () => {
    expect(page()).toContain('<p class="meta"><span>1 folder, 3 files · 1.2 MB</span></p>');
    expect(page({ entries: entries.slice(0, 1) })).toContain('<span>1 folder</span>');
  });

  test('an empty folder says so', () => {
    expect(page({ entries: [] })).toContain('This folder is empty.');
    expect(page()).not.toContain('This folder is empty.');
  });

  test('the upload form appears only when uploads are allowed, overwrite before the files', () => {
    expect(page()).not.toContain('<form id="upload-form"');
    const html = page({ allowUpload: true, path: '/in box/' });
    const form = html.match(/<form id="upload-form"[^]*?<\/form>/)![0];
    expect(form).toContain('method="post" action="/in%20box/" enctype="multipart/form-data"');
    expect(form).toContain('type="file" name="file" multiple');
    expect(form.indexOf('name="overwrite" value="1"')).toBeGreaterThan(-1);
    expect(form.indexOf('name="overwrite"')).toBeLessThan(form.indexOf('type="file"'));
  });

  test('log out is a POST form, shown only for password shares', () => {
    expect(page()).not.toContain('/.udns/logout');
    expect(page({ passwordProtected: true })).toContain('<form method="post" action="/.udns/logout">');
  });

  test('the expiry shows the time left and the moment', () => {
    const html = page({ expiresAt: new Date('2025-03-14T11:59:00.000Z') });
    expect(html).toContain('Expires in 1 h 59 min');
    expect(html).toContain('<time datetime="2025-03-14T11:59:00.000Z">');
  });

  test('the page is self-contained, not indexed, and its CSP allows exactly its inline code', () => {
    const html = page({ allowUpload: true });
    expect(html).toContain('<meta name="robots" content="noindex">');
    expect(html).toContain('<meta name="viewport"');
    expect(html).not.toMatch(/<(link rel="stylesheet"|script src)/);
    const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
    const style = html.match(/<style>([^]*?)<\/style>/)![1]!;
    const script = html.match(/<script>([^]*?)<\/script>/)![1]!;
    expect(LISTING_PAGE_CSP).toContain(`style-src ${hash(style)}`);
    expect(LISTING_PAGE_CSP).toContain(`script-src ${hash(script)}`);
  });

  test('no emoji: icons are inline SVG', () => {
    expect(page()).not.toMatch(/\p{Extended_Pictographic}/u);
    expect(page()).toContain('<use href="#i-folder"/>');
  });

  test('the inline script is valid JavaScript', () => {
    expect(() => new Function(LISTING_SCRIPT)).not.toThrow();
  });
});

describe('human formats', () => {
  test('sizes', () => {
    expect([0, 512, 1023, 1024, 1_258_291, 12_582_912, 1024 * 1024 - 1, 2 ** 31].map(formatSize))
      .toEqual(['0 B', '512 B', '1023 B', '1.0 KB', '1.2 MB', '12 MB', '1.0 MB', '2.0 GB']);
  });

  test('dates and durations', () => {
    expect(formatUtc(new Date('2025-03-14T09:05:59.000Z'))).toBe('2025-03-14 09:05 UTC');
    expect([30_000, 12 * 60_000, 119 * 60_000, 3 * 3_600_000, 76 * 3_600_000].map(formatDuration))
      .toEqual(['less than a minute', '12 min', '1 h 59 min', '3 h', '3 days 4 h']);
  });
});
