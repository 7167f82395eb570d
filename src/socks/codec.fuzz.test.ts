// SOCKS5 codec under random and mutated input: every parser returns "need
// more", a value, or throws SocksError, nothing else; a value depends only on
// its `used` bytes (the same inside a larger buffer, with bytes after it, or
// cut to `used`), so nothing is read out of bounds; decoded addresses re-encode
// to the same bytes; encode/read round-trips for IPv4, IPv6 and domains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP, SocketAddress } from 'node:net';
import fc from 'fast-check';
import { encodeAddress, readAddress } from './address.js';
import { SocksError } from './errors.js';
import { readGreeting, readRequest, readUserPass } from './messages.js';
import { encodeUdpHeader, readUdpHeader } from './udp-header.js';
import { encodeGreeting, encodeRequest, encodeUserPass } from './testing.js';

const RUNS = 3000;

type Incremental = (b: Buffer) => { value: unknown; used: number } | undefined;
const incremental: Record<string, Incremental> = {
  address: (b) => {
    const r = readAddress(b, 0);
    return r && { value: r.address, used: r.end };
  },
  greeting: readGreeting,
  userpass: readUserPass,
  request: readRequest,
};
// A datagram is whole: `used` is the header, the payload is the rest.
const udp: Incremental = (b) => {
  const r = readUdpHeader(b);
  return { value: { frag: r.frag, address: r.address }, used: r.dataOffset };
};

/** The outcome, or the SocksError's code and reply; anything else thrown fails the property. */
function attempt(read: Incremental, b: Buffer): ReturnType<Incremental> | { code: string; reply: number | undefined } {
  try {
    return read(b);
  } catch (err) {
    if (err instanceof SocksError) return { code: err.code, reply: err.reply };
    throw err;
  }
}

/** `b` as a view into a larger buffer with random bytes on both sides: a parser must not see them. */
function embedded(b: Buffer, before: Uint8Array, after: Uint8Array): Buffer {
  const big = Buffer.concat([before, b, after]);
  return big.subarray(before.length, before.length + b.length);
}

function checkParser(read: Incremental, b: Buffer, extra: Uint8Array, before: Uint8Array, whole: boolean): void {
  const got = attempt(read, b);
  assert.deepEqual(attempt(read, embedded(b, before, extra)), got);
  if (got === undefined) return;
  if ('code' in got) {
    // An error is decided by bytes already seen: more bytes do not undo it (datagrams have no "more").
    if (!whole) assert.deepEqual(attempt(read, Buffer.concat([b, extra])), got);
    return;
  }
  assert.ok(got.used >= 1 && got.used <= b.length, `used ${got.used} of ${b.length}`);
  if (whole) return; // readUdpHeader's value is checked against its header alone below
  assert.deepEqual(read(b.subarray(0, got.used)), got);
  assert.deepEqual(read(Buffer.concat([b, extra])), got);
  for (let n = 0; n < got.used; n++) assert.equal(read(b.subarray(0, n)), undefined, `prefix ${n} of ${got.used}`);
}

/** A decoded address re-encodes to its bytes (a domain that reads as an IP literal re-encodes as ATYP 1/4: skipped). */
function checkFixPoint(b: Buffer): void {
  const r = attempt(incremental.address!, b);
  if (r === undefined || 'code' in r) return;
  const a = r.value as { atyp: number; host: string; port: number };
  if (a.atyp === 3 && isIP(a.host) !== 0) return;
  assert.ok(encodeAddress(a.host, a.port).equals(b.subarray(0, r.used)), `${a.host} re-encodes`);
}

function checkAll(b: Buffer, extra: Uint8Array, before: Uint8Array): void {
  for (const read of Object.values(incremental)) checkParser(read, b, extra, before, false);
  checkParser(udp, b, extra, before, true);
  const u = attempt(udp, b);
  if (u !== undefined && !('code' in u)) assert.deepEqual(udp(Buffer.concat([b.subarray(0, u.used), extra])), u);
  checkFixPoint(b);
  if (b.length > 3) checkFixPoint(b.subarray(3)); // the address of a request / UDP header
}

/** The ATYP encodeAddress picks for a host. */
const atypOf = (host: string) => (isIP(host) === 4 ? 1 : isIP(host) === 6 ? 4 : 3);
const portArb = fc.integer({ min: 0, max: 0xffff });
/** IPv6 as node prints it, from any of fast-check's forms (compressed, expanded, dotted tail). */
const ipv6Arb = fc.ipV6().map((a) => new SocketAddress({ address: a, family: 'ipv6' }).address);
const domainArb = fc.oneof(fc.domain(), fc.stringMatching(/^[!-~]{1,255}$/)).filter((d) => isIP(d) === 0);
const hostArb = fc.oneof(fc.ipV4(), ipv6Arb, domainArb);
const bytesArb = fc.uint8Array({ maxLength: 24 });
const utf8Arb = (min: number) => fc.string({ unit: 'grapheme', minLength: min, maxLength: 60 }).filter((s) => Buffer.byteLength(s) <= 255);

const validArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.tuple(hostArb, portArb).map(([h, p]) => encodeAddress(h, p)),
  fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 255 }).map(encodeGreeting),
  fc.tuple(utf8Arb(1), utf8Arb(0)).map(([u, p]) => encodeUserPass(u, p)),
  fc.tuple(fc.integer({ min: 0, max: 255 }), hostArb, portArb).map(([c, h, p]) => encodeRequest(c, h, p)),
  fc.tuple(hostArb, portArb, bytesArb).map(([h, p, d]) => Buffer.concat([encodeUdpHeader(h, p), d])),
);

/** Truncate, flip a bit, or overwrite a byte with a boundary value (0, 1..5, 0x20, 0x7f, 0xff). */
const mutatedArb = fc
  .tuple(validArb, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), fc.constantFrom(0, 1, 2, 3, 4, 5, 0x20, 0x7f, 0xff), fc.integer({ min: 0, max: 2 }))
  .map(([b, cut, pos, bit, value, how]) => {
    const m = Buffer.from(b);
    if (how === 0) return m.subarray(0, cut % (m.length + 1));
    if (how === 1) m[pos % m.length]! ^= 1 << bit;
    else m[pos % m.length] = value;
    return m;
  });

/** Random bytes, and random bytes that start like a SOCKS message, so parsers get past the first byte. */
const randomArb = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)),
  fc
    .tuple(fc.constantFrom([], [5], [1], [0, 0, 0], [5, 1, 0], [1], [3], [4]), fc.uint8Array({ maxLength: 40 }))
    .map(([head, rest]) => Buffer.from([...head, ...rest])),
);

test('fuzz: random bytes: undefined, a value from exactly `used` bytes, or SocksError', () => {
  fc.assert(fc.property(randomArb, bytesArb, bytesArb, (b, extra, before) => checkAll(b, extra, before)), { numRuns: RUNS });
});

test('fuzz: valid messages, truncated, bit-flipped and overwritten', () => {
  fc.assert(fc.property(mutatedArb, bytesArb, bytesArb, (b, extra, before) => checkAll(b, extra, before)), { numRuns: RUNS });
});

test('fuzz: address round trip: read(encode(x)) is x for IPv4, IPv6 (node\'s form) and domains', () => {
  fc.assert(
    fc.property(hostArb, portArb, bytesArb, (host, port, extra) => {
      const enc = encodeAddress(host, port);
      assert.deepEqual(readAddress(Buffer.concat([enc, extra]), 0), { address: { atyp: atypOf(host), host, port }, end: enc.length });
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: handshake round trips: each message parses to what was encoded, `used` its length', () => {
  const methodsArb = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 255 });
  fc.assert(
    fc.property(methodsArb, utf8Arb(1), utf8Arb(0), fc.integer({ min: 0, max: 255 }), hostArb, portArb, bytesArb, (methods, u, p, c, h, port, extra) => {
      const roundTrip = (read: Incremental, msg: Buffer, value: unknown) =>
        assert.deepEqual(read(Buffer.concat([msg, extra])), { value, used: msg.length });
      roundTrip(readGreeting, encodeGreeting(methods), { methods });
      roundTrip(readUserPass, encodeUserPass(u, p), { username: u, password: p });
      roundTrip(readRequest, encodeRequest(c, h, port), { command: c, address: { atyp: atypOf(h), host: h, port } });
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: UDP header round trip: address and payload offset', () => {
  fc.assert(
    fc.property(hostArb, portArb, bytesArb, (host, port, payload) => {
      const header = encodeUdpHeader(host, port);
      const r = readUdpHeader(Buffer.concat([header, payload]));
      assert.equal(r.frag, 0);
      assert.equal(r.address.host, host);
      assert.equal(r.address.port, port);
      assert.equal(r.dataOffset, header.length);
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: any 16 bytes print as net.SocketAddress prints them, and encode back to themselves', () => {
  // Zeros and 0xffff are where the "::" and dotted-IPv4 rules decide.
  const group = fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff }));
  fc.assert(
    fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
      const buf = Buffer.alloc(19);
      buf[0] = 4;
      groups.forEach((g, i) => buf.writeUInt16BE(g, 1 + 2 * i));
      const host = readAddress(buf, 0)!.address.host;
      const expanded = groups.map((g) => g.toString(16)).join(':');
      assert.equal(host, new SocketAddress({ address: expanded, family: 'ipv6' }).address, expanded);
      assert.ok(encodeAddress(host, 0).equals(buf), host);
    }),
    { numRuns: RUNS },
  );
});
