import path from 'node:path';
import { MAX_AMOUNT, UdnsError } from '../../protocol/index.js';

/** One price rule of a share: files whose share path matches `glob` cost `price` credits. */
export interface PriceRule {
  readonly glob: string;
  readonly price: number;
}

/** Rules one share may have: each costs a regular-expression test per file of the share. */
export const MAX_PRICE_RULES = 100;
/** Longest glob, in characters. */
export const MAX_PRICE_GLOB_LENGTH = 1024;

/**
 * The prices of one share (`udns share DIR --list --price 'talks/*.pdf=50'`): an ordered list
 * of glob rules matched against a file's share path without its leading `/`; the first rule
 * that matches gives the price, a file no rule matches is free.
 *
 * The globs are the shell's, per path segment, like `.gitignore` minus its special cases:
 * `*` any characters but `/`, `?` one character but `/`, `[abc]` / `[!a-z]` one of a set,
 * `{pdf,epub}` one of the alternatives, `**` any number of whole folders (`talks/**`,
 * `**\/*.pdf`). A pattern ending in `/` prices everything under that folder. Matching is
 * case-sensitive and a pattern without `/` matches at the top of the share only
 * (`*.pdf` is `/a.pdf`, not `/talks/a.pdf`; write `**\/*.pdf` for every folder).
 */
export class PriceList {
  private readonly compiled: readonly { readonly rule: PriceRule; readonly pattern: RegExp }[];

  /** @throws UdnsError `config_invalid` naming the bad rule. */
  constructor(readonly rules: readonly PriceRule[]) {
    if (rules.length > MAX_PRICE_RULES) throw new UdnsError('config_invalid', `at most ${MAX_PRICE_RULES} price rules per share (got ${rules.length})`);
    this.compiled = rules.map((rule) => {
      checkAmount(rule.price, rule.glob);
      return { rule, pattern: compileGlob(rule.glob) };
    });
  }

  get empty(): boolean {
    return this.compiled.length === 0;
  }

  /** The price of the file at share path `path` (`/talks/a.pdf`), or null when it is free. */
  priceOf(path: string): number | null {
    if (this.compiled.length === 0) return null;
    const relative = path.startsWith('/') ? path.slice(1) : path;
    for (const { rule, pattern } of this.compiled) if (pattern.test(relative)) return rule.price;
    return null;
  }
}

/**
 * The price of a file reached at share path `sharePath` whose real path is `real`, in a share
 * rooted at `root`: a symlink inside the share to a priced file costs what that file costs (else
 * the link would be a free door to it); null when neither path is priced.
 */
export function priceOfFile(prices: PriceList | null, sharePath: string, real: string, root: string): number | null {
  if (prices === null || prices.empty) return null;
  const direct = prices.priceOf(sharePath);
  if (direct !== null || real === '') return direct;
  const relative = path.relative(root, real);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) return null;
  return prices.priceOf(`/${relative.split(path.sep).join('/')}`);
}

/**
 * Parses one `--price` value, `GLOB=AMOUNT` (the last `=` separates them, so a glob may hold
 * one). @throws UdnsError `config_invalid` with the fix.
 */
export function parsePriceFlag(text: string): PriceRule {
  const at = text.lastIndexOf('=');
  if (at <= 0) throw new UdnsError('config_invalid', `--price ${JSON.stringify(text)}: write GLOB=AMOUNT, e.g. --price 'talks/*.pdf=50'`);
  const glob = text.slice(0, at).trim();
  const amount = text.slice(at + 1).trim();
  if (!/^\d+$/.test(amount)) throw new UdnsError('config_invalid', `--price ${JSON.stringify(text)}: the amount must be a whole number of credits, e.g. ${glob}=50`);
  const rule = { glob, price: Number(amount) };
  checkAmount(rule.price, glob);
  compileGlob(glob);
  return rule;
}

/** Rules from a config file's `prices:` map (glob → amount), in the file's order. */
export function priceRulesOf(prices: Record<string, number>): PriceRule[] {
  return Object.entries(prices).map(([glob, price]) => ({ glob, price }));
}

function checkAmount(price: number, glob: string): void {
  if (!Number.isSafeInteger(price) || price <= 0 || price > MAX_AMOUNT) {
    throw new UdnsError('config_invalid', `price of ${JSON.stringify(glob)}: ${price} is not a whole number of credits from 1 to ${MAX_AMOUNT}`);
  }
}

/** A glob as an anchored regular expression. @throws UdnsError `config_invalid` */
export function compileGlob(glob: string): RegExp {
  const bad = (why: string): UdnsError => new UdnsError('config_invalid', `price glob ${JSON.stringify(glob)}: ${why}`);
  if (glob.length === 0) throw bad('empty; write a pattern such as talks/*.pdf');
  if (glob.length > MAX_PRICE_GLOB_LENGTH) throw bad(`longer than ${MAX_PRICE_GLOB_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(glob)) throw bad('control characters');
  let pattern = glob.startsWith('/') ? glob.slice(1) : glob;
  if (pattern.endsWith('/')) pattern += '**';
  if (pattern === '') throw bad('it names the whole share; write ** to price every file');
  const segments = pattern.split('/');
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) throw bad('empty, . or .. folder in the pattern');
  let source = '';
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    if (segment === '**') {
      // Any number of whole folders (none included); as the last segment, anything below.
      source += last ? '.*' : '(?:[^/]*/)*';
      return;
    }
    if (segment.includes('**')) throw bad('** must be a whole folder name (talks/**/x.pdf), not part of one');
    source += segmentSource(segment, bad) + (last ? '' : '/');
  });
  return new RegExp(`^${source}$`, 'u');
}

function segmentSource(segment: string, bad: (why: string) => UdnsError): string {
  let out = '';
  let inBraces = false;
  for (let at = 0; at < segment.length; at++) {
    const char = segment[at]!;
    if (char === '\\') {
      const next = segment[at + 1];
      if (next === undefined) throw bad('a trailing \\ escapes nothing');
      out += escapeRegex(next);
      at++;
    } else if (char === '*') {
      out += '[^/]*';
    } else if (char === '?') {
      out += '[^/]';
    } else if (char === '[') {
      const end = segment.indexOf(']', at + 2);
      if (end === -1) throw bad('[ without its ]');
      let body = segment.slice(at + 1, end);
      const negated = body.startsWith('!') || body.startsWith('^');
      if (negated) body = body.slice(1);
      if (body === '') throw bad('an empty [] set');
      out += `[${negated ? '^/' : ''}${body.replace(/[\\\]^]/g, (found) => `\\${found}`)}]`;
      at = end;
    } else if (char === '{') {
      if (inBraces) throw bad('nested { } are not supported');
      inBraces = true;
      out += '(?:';
    } else if (char === '}' && inBraces) {
      inBraces = false;
      out += ')';
    } else if (char === ',' && inBraces) {
      out += '|';
    } else {
      out += escapeRegex(char);
    }
  }
  if (inBraces) throw bad('{ without its }');
  return out;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, (found) => `\\${found}`);
}
