import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatIp, parseIp } from './ip-bigint.js';

/** The WHATWG URL parser's host serializer is RFC 5952 text: the oracle for IPv6. */
const urlForm = (text: string) => new URL(`http://[${text}]/`).hostname.slice(1, -1);

describe('ip-bigint', () => {
  it('parses and formats examples', () => {
    assert.deepEqual(parseIp('10.8.0.1'), { family: 4, value: 0x0a080001n });
    assert.deepEqual(parseIp('::'), { family: 6, value: 0n });
    assert.deepEqual(parseIp('::ffff:1.2.3.4'), { family: 6, value: 0xffff01020304n });
    assert.equal(formatIp(0x0a080001n, 4), '10.8.0.1');
    assert.equal(formatIp(parseIp('fd00:8:0:0:0:0:0:1000')!.value, 6), 'fd00:8::1000');
    assert.equal(formatIp(parseIp('1:0:0:2:0:0:0:3')!.value, 6), '1:0:0:2::3');
    assert.equal(formatIp(parseIp('1:0:2:3:4:5:6:7')!.value, 6), '1:0:2:3:4:5:6:7');
    for (const bad of ['', '10.8.0', '10.8.0.256', 'fe80::1%eth0', '1::2::3', 'host', '10.8.0.0/24']) assert.equal(parseIp(bad), undefined, bad);
  });

  it('round-trips any IPv6 value, and formats as RFC 5952 (URL oracle)', () => {
    const groups = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 });
    fc.assert(
      fc.property(groups, (ws) => {
        const value = ws.reduce((n, w) => (n << 16n) | BigInt(w), 0n);
        const text = formatIp(value, 6);
        assert.equal(text, urlForm(ws.map((w) => w.toString(16)).join(':')));
        assert.deepEqual(parseIp(text), { family: 6, value });
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips any IPv4 value', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 0xffffffffn }), (value) => {
        assert.deepEqual(parseIp(formatIp(value, 4)), { family: 4, value });
      }),
    );
  });
});
