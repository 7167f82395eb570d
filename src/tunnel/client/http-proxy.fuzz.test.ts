// A proxy's status line is untrusted: any bytes give a status or a
// ProxyError, nothing else, and a well-formed line gives back its parts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ProxyError } from '../errors.js';
import { parseConnectResponse } from './http-proxy.js';

test('random response heads parse or give INSEL_PROXY_BAD_RESPONSE', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      try {
        const { status } = parseConnectResponse(Buffer.from(b), 'proxy:3128');
        assert.ok(status >= 100 && status <= 999);
      } catch (err) {
        assert.ok(err instanceof ProxyError && err.code === 'INSEL_PROXY_BAD_RESPONSE', String(err));
      }
    }),
    { numRuns: 3000 },
  );
});

test('well-formed status lines give back status and reason', () => {
  const reason = fc.string({ maxLength: 40 }).filter((s) => !/[\r\n]/.test(s) && [...s].every((c) => c.charCodeAt(0) < 256));
  fc.assert(
    fc.property(fc.constantFrom('0', '1'), fc.integer({ min: 100, max: 999 }), reason, fc.string({ maxLength: 100 }), (minor, status, why, rest) => {
      const head = Buffer.from(`HTTP/1.${minor} ${status} ${why}\r\n${rest}`, 'latin1');
      assert.deepEqual(parseConnectResponse(head, 'proxy:3128'), { status, reason: why });
    }),
    { numRuns: 1000 },
  );
});
