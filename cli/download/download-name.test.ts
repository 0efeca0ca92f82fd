import contentDisposition from 'content-disposition';
import { describe, expect, test } from 'vitest';
import { dispositionName, folderName, suggestedName, unsafeNameReason, urlName } from './download-name.js';

describe('Content-Disposition names', () => {
  test('filename* (RFC 5987, UTF-8) wins over the ASCII fallback: Korean names with spaces', () => {
    expect(dispositionName(`attachment; filename="? ?.pdf"; filename*=UTF-8''%ED%95%9C%EA%B8%80%20%ED%8C%8C%EC%9D%BC.pdf`)).toBe('한글 파일.pdf');
    expect(dispositionName(contentDisposition('발표 자료 (최종).pptx', { type: 'inline' }))).toBe('발표 자료 (최종).pptx');
  });

  test('plain and quoted filename, ISO-8859-1 filename*', () => {
    expect(dispositionName('attachment; filename=report.pdf')).toBe('report.pdf');
    expect(dispositionName('inline; filename="my \\"notes\\".txt"')).toBe('my "notes".txt');
    expect(dispositionName(`attachment; filename*=ISO-8859-1''caf%E9.txt`)).toBe('café.txt');
  });

  test('no header, no filename, or a malformed header: undefined (the URL decides)', () => {
    expect(dispositionName(undefined)).toBeUndefined();
    expect(dispositionName('attachment')).toBeUndefined();
    expect(dispositionName('attachment; filename=')).toBeUndefined();
    expect(dispositionName(';;;garbage')).toBeUndefined();
  });

  test('a traversal name from the server parses as-is, and is then refused', () => {
    const name = dispositionName(`attachment; filename*=UTF-8''..%2F..%2F.bashrc`);
    expect(name).toBe('../../.bashrc');
    expect(unsafeNameReason(name!)).toMatch(/separator/);
  });
});

describe('URL names', () => {
  test('the last segment, percent-decoded', () => {
    expect(urlName(new URL('http://a.localhost/docs/%ED%95%9C%EA%B8%80%20%ED%8C%8C%EC%9D%BC.txt'))).toBe('한글 파일.txt');
    expect(urlName(new URL('http://a.localhost/docs/trip/'))).toBe('trip');
    expect(urlName(new URL('http://a.localhost/'))).toBeUndefined();
    expect(urlName(new URL('http://a.localhost/bad%E0%A4%A'))).toBe('bad%E0%A4%A');
  });

  test('an encoded slash decodes to a name that is refused', () => {
    const name = urlName(new URL('http://a.localhost/x/..%2F..%2Fetc%2Fpasswd'));
    expect(unsafeNameReason(name!)).not.toBeNull();
  });

  test('suggestedName prefers the server; folderName falls back to the share host label', () => {
    expect(suggestedName(new URL('http://a.localhost/f.bin'), 'attachment; filename="g.bin"')).toBe('g.bin');
    expect(suggestedName(new URL('http://a.localhost/f.bin'), undefined)).toBe('f.bin');
    expect(folderName(new URL('http://photos.localhost:8080/'))).toBe('photos');
    expect(folderName(new URL('http://photos.localhost/2024/%EC%97%AC%EB%A6%84/'))).toBe('여름');
  });
});

describe('unsafe names', () => {
  test.each([
    ['', /empty/],
    ['.', /folder/],
    ['..', /folder/],
    ['a/b', /separator/],
    ['a\\b', /separator/],
    ['/etc/passwd', /separator/],
    ['C:\\x', /separator/],
    ['nul\u0000byte', /control/],
    ['new\nline', /control/],
    ['x'.repeat(256), /longer/],
    ['가'.repeat(86), /longer/],
  ])('%j is refused', (name, reason) => {
    expect(unsafeNameReason(name)).toMatch(reason);
  });

  test.each(['report.pdf', '한글 파일.txt', '..hidden..', 'a..b', '.bashrc', 'x'.repeat(255), '가'.repeat(85)])('%j is fine', (name) => {
    expect(unsafeNameReason(name)).toBeNull();
  });
});
