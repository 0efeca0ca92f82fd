import { describe, expect, test } from 'vitest';
import { LOGIN_PAGE_CSP, renderLoginPage } from './login-page.js';

describe('renderLoginPage', () => {
  test('a password form posting to the login path with the next location', () => {
    const html = renderLoginPage({ title: 'alice.localhost', next: '/a%20b/' });
    expect(html).toContain('<form method="post" action="/.udns/login">');
    expect(html).toContain('<input type="hidden" name="next" value="/a%20b/">');
    expect(html).toMatch(/<input id="password" type="password" name="password" [^>]*autofocus autocomplete="current-password">/);
    expect(html).toContain('<meta name="robots" content="noindex">');
    expect(html).not.toContain('<script');
    expect(html).not.toContain('role="alert"');
  });

  test('next, title and error are escaped', () => {
    const html = renderLoginPage({ title: '<i>x</i>', next: '/"><script>alert(1)</script>', error: '<b>Wrong</b> password' });
    expect(html).not.toContain('<script>alert(1)');
    expect(html).not.toContain('<i>x</i>');
    expect(html).toContain('value="/&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"');
    expect(html).toContain('&lt;b&gt;Wrong&lt;/b&gt; password');
  });

  test('the error and the rate limit are shown', () => {
    expect(renderLoginPage({ title: 'h', next: '/', error: 'Wrong password' })).toContain('role="alert">Wrong password</p>');
    expect(renderLoginPage({ title: 'h', next: '/', retryAfterSeconds: 27.2 })).toContain('Too many attempts, try again in 28 s');
  });

  test('its CSP allows no script', () => {
    expect(LOGIN_PAGE_CSP).toContain("script-src 'none'");
    expect(LOGIN_PAGE_CSP).toContain("form-action 'self'");
  });
});
