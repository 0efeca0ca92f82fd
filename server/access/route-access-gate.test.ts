import { describe, expect, test } from 'vitest';
import { routeAccessWire } from '../../protocol/index.js';
import { BasicAuthThrottle } from './basic-auth-throttle.js';
import { RouteAccessGate } from './route-access-gate.js';
import { headerValues } from './http-access.js';

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function gateWith(throttle = new BasicAuthThrottle()): RouteAccessGate {
  return RouteAccessGate.of(routeAccessWire({ basicAuth: [{ user: 'alice', password: 'pw-1' }], allowIp: ['192.0.2.0/24'] }), 'http', throttle)!;
}

describe('RouteAccessGate', () => {
  test('right credentials pass, wrong ones and an unknown user do not, none is "absent"', () => {
    const gate = gateWith();
    expect(gate.checkBasic([basic('alice', 'pw-1')], '192.0.2.1')).toEqual({ kind: 'ok' });
    expect(gate.checkBasic([basic('alice', 'pw-2')], '192.0.2.1')).toEqual({ kind: 'wrong' });
    expect(gate.checkBasic([basic('bob', 'pw-1')], '192.0.2.1')).toEqual({ kind: 'wrong' });
    expect(gate.checkBasic([], '192.0.2.1')).toEqual({ kind: 'absent' });
    expect(gate.checkBasic([basic('alice', 'pw-1'), basic('alice', 'pw-1')], '192.0.2.1')).toEqual({ kind: 'absent' });
    expect(gate.checkBasic(['Bearer x'], '192.0.2.1')).toEqual({ kind: 'absent' });
    expect(gate.ip.allows('192.0.2.9')).toBe(true);
    expect(gate.ip.allows('198.51.100.1')).toBe(false);
  });

  test('a network over its budget gets throttled, even with the right password; another network does not', () => {
    let now = 1_000_000;
    const gate = gateWith(new BasicAuthThrottle({ burst: 3, refillMs: 10_000 }, { burst: 100, perSecond: 10 }, () => now));
    for (let i = 0; i < 3; i++) expect(gate.checkBasic([basic('alice', `guess-${i}`)], '192.0.2.1').kind).toBe('wrong');
    expect(gate.checkBasic([basic('alice', 'pw-1')], '192.0.2.1')).toEqual({ kind: 'throttled', retryAfterSeconds: 10 });
    expect(gate.checkBasic([basic('alice', 'pw-1')], '192.0.2.2')).toEqual({ kind: 'ok' });
    now += 10_000;
    expect(gate.checkBasic([basic('alice', 'pw-1')], '192.0.2.1')).toEqual({ kind: 'ok' });
  });

  test('an IPv6 /64 is one network', () => {
    const gate = gateWith(new BasicAuthThrottle({ burst: 1, refillMs: 60_000 }));
    expect(gate.checkBasic([basic('alice', 'x')], '2001:db8:1:2::1').kind).toBe('wrong');
    expect(gate.checkBasic([basic('alice', 'x')], '2001:db8:1:2::ffff').kind).toBe('throttled');
    expect(gate.checkBasic([basic('alice', 'pw-1')], '2001:db8:1:3::1').kind).toBe('ok');
  });

  test('while the edge-wide budget is spent, only credentials already accepted pass', () => {
    const now = 5_000_000;
    const gate = gateWith(new BasicAuthThrottle({ burst: 100, refillMs: 1000 }, { burst: 2, perSecond: 0.001 }, () => now));
    expect(gate.checkBasic([basic('alice', 'pw-1')], '203.0.113.1').kind).toBe('ok');
    gate.checkBasic([basic('alice', 'a')], '198.51.100.1');
    gate.checkBasic([basic('alice', 'b')], '198.51.100.2');
    expect(gate.checkBasic([basic('alice', 'pw-1')], '203.0.113.1').kind).toBe('ok');
    // Same password, spelt differently (not cached): no scrypt now.
    expect(gate.checkBasic([`basic ${Buffer.from('alice:pw-1').toString('base64')}`], '203.0.113.1').kind).toBe('throttled');
  });

  test('malformed rules refuse the route; Basic users on a tcp route too; no rules: no gate', () => {
    const throttle = new BasicAuthThrottle();
    expect(() => RouteAccessGate.of({ allowIp: ['10.0.0.1/8'] }, 'http', throttle)).toThrow(/route_invalid|access rules refused/);
    expect(() => RouteAccessGate.of(routeAccessWire({ basicAuth: [{ user: 'a', password: 'b' }] }), 'tcp', throttle)).toThrow(/needs an http route/);
    expect(RouteAccessGate.of(undefined, 'http', throttle)).toBeNull();
    expect(RouteAccessGate.of({}, 'http', throttle)).toBeNull();
  });
});

describe('headerValues', () => {
  test('finds every value of a header, in any case, trimmed', () => {
    const head = Buffer.from('GET / HTTP/1.1\r\nHost: a\r\nauthorization:  Basic x \r\nX: y\r\nAUTHORIZATION: Basic z\r\n\r\nbody');
    const end = head.indexOf('\r\n\r\n') + 4;
    expect(headerValues(head, end, 'authorization')).toEqual(['Basic x', 'Basic z']);
    expect(headerValues(head, end, 'accept')).toEqual([]);
    // Not a header name that merely ends the same way.
    expect(headerValues(Buffer.from('GET / HTTP/1.1\r\nX-Authorization: q\r\n\r\n'), 38, 'authorization')).toEqual([]);
  });
});
