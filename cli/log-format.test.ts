import pino from 'pino';
import { Writable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { lineFormatterFor, prettyLogLine, resolveLogFormat } from './log-format.js';

/** Lines a real pino logger writes with `formatLine` as its streamWrite hook, as the CLI sets it. */
function logWith(formatLine: ((line: string) => string) | undefined, log: (logger: pino.Logger) => void): string {
  let out = '';
  const sink = new Writable({ write(chunk, _encoding, done) { out += chunk; done(); } });
  const logger = pino({ level: 'debug', redact: { paths: ['token', '*.token'], censor: '[redacted]' }, ...(formatLine ? { hooks: { streamWrite: formatLine } } : {}) }, sink);
  log(logger);
  return out;
}

describe('resolveLogFormat', () => {
  test('the flag over UDNS_LOG_FORMAT over the terminal test', () => {
    expect(resolveLogFormat(undefined, {}, true)).toBe('pretty');
    expect(resolveLogFormat(undefined, {}, false)).toBe('json');
    expect(resolveLogFormat(undefined, { UDNS_LOG_FORMAT: 'pretty' }, false)).toBe('pretty');
    expect(resolveLogFormat(undefined, { UDNS_LOG_FORMAT: '' }, true)).toBe('pretty');
    expect(resolveLogFormat('json', { UDNS_LOG_FORMAT: 'pretty' }, true)).toBe('json');
  });

  test('an unknown format names where it came from', () => {
    expect(() => resolveLogFormat('xml', {}, true)).toThrow(/^--log-format must be pretty or json, not 'xml'$/);
    expect(() => resolveLogFormat(undefined, { UDNS_LOG_FORMAT: 'yaml' }, true)).toThrow(/^UDNS_LOG_FORMAT must be pretty or json/);
  });
});

describe('pretty log lines', () => {
  test('one short line per event: time, level, message, fields; ids shortened', () => {
    const out = logWith(lineFormatterFor('pretty', {}, false), (logger) => {
      logger.child({ account: 'alice', tunnel: '3f2a9c01d4e5f60718293a4b5c6d7e8f' }).info('tunnel up');
    });
    expect(out).toMatch(/^\d\d:\d\d:\d\d INFO  tunnel up  account=alice tunnel=3f2a9c01…\n$/);
  });

  test('never more than one line: newlines in messages and values, nested objects, errors without their stack', () => {
    const out = logWith(lineFormatterFor('pretty', {}, false), (logger) => {
      logger.warn({ reason: 'two\nlines', peer: { address: '10.0.0.1', port: 4 } }, 'first\nsecond');
      logger.error({ err: Object.assign(new Error('boom\nagain'), { code: 'ECONNRESET' }) }, 'failed');
    });
    const lines = out.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d WARN  first second  reason="two\\nlines" peer=\{"address":"10.0.0.1","port":4\}$/);
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d ERROR failed  err="boom\\nagain \(ECONNRESET\)"$/);
    expect(out).not.toContain('at ');
  });

  test('no token in a pretty line, whether pino redacted it or a key slipped past its paths', () => {
    const out = logWith(lineFormatterFor('pretty', {}, false), (logger) => {
      logger.info({ token: 'udns_secret1', agent: { token: 'udns_secret2' }, deep: { auth: { authorization: 'Bearer udns_secret3' } } }, 'hello');
    });
    expect(out).not.toContain('udns_secret');
    expect(out).toContain('token=[redacted]');
  });

  test('colour by level only when asked, and never with NO_COLOR', () => {
    const line = JSON.stringify({ level: 50, time: Date.now(), msg: 'x' });
    expect(prettyLogLine(line, true)).toContain('\x1b[31mERROR');
    expect(lineFormatterFor('pretty', {}, true)!(line)).toContain('\x1b[');
    expect(lineFormatterFor('pretty', { NO_COLOR: '1' }, true)!(line)).not.toContain('\x1b[');
    expect(lineFormatterFor('pretty', {}, false)!(line)).not.toContain('\x1b[');
  });

  test('json leaves pino\'s lines alone; a line that is not JSON passes unchanged', () => {
    expect(lineFormatterFor('json', {}, true)).toBeUndefined();
    const out = logWith(undefined, (logger) => logger.info({ a: 1 }, 'm'));
    expect(JSON.parse(out)).toMatchObject({ level: 30, msg: 'm', a: 1 });
    expect(prettyLogLine('not json\n', false)).toBe('not json\n');
  });
});
