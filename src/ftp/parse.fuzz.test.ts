// The pure parsers under random bytes in random chunks: LineReader agrees
// with a split-on-LF oracle; ReplyReader, planCommand and the argument
// parsers return a value or throw FtpProtocolError, nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseCommand, parseEprtArg, parsePortArg } from './command.js';
import { FtpProtocolError } from './errors.js';
import { LineReader, stripEol } from './line-reader.js';
import { ReplyReader, parsePassivePort } from './reply.js';
import { planCommand } from './rewrite.js';

const RUNS = 2000;

/** Splits bytes at the given cut points. */
function split(bytes: Uint8Array, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(Buffer.from(bytes.subarray(prev, p)));
    prev = p;
  }
  out.push(Buffer.from(bytes.subarray(prev)));
  return out;
}

/** Reference: whole lines up to the first one over `max`, then 'error'; or the rest. */
function oracle(bytes: Buffer, max: number): { lines: string[]; end: 'error' | number } {
  const lines: string[] = [];
  let at = 0;
  for (;;) {
    const lf = bytes.indexOf(0x0a, at);
    if (lf < 0) return bytes.length - at >= max ? { lines, end: 'error' } : { lines, end: bytes.length - at };
    if (lf + 1 - at > max) return { lines, end: 'error' };
    lines.push(bytes.subarray(at, lf + 1).toString('latin1'));
    at = lf + 1;
  }
}

// Bytes biased toward FTP: printable text, CR, LF, digits and IAC.
const ftpish = fc.array(fc.oneof(fc.constantFrom(...Buffer.from('\r\n\r\n227-229 (|,)0123456789PORTEPRT\xff')), fc.integer({ min: 0, max: 255 })), { maxLength: 200 }).map((a) => Uint8Array.from(a));
const bytesArb = fc.oneof(fc.uint8Array({ maxLength: 200 }), ftpish);
const cutsArb = fc.array(fc.nat(), { maxLength: 12 });

test('fuzz: LineReader agrees with the oracle, split anywhere', () => {
  fc.assert(
    fc.property(bytesArb, cutsArb, fc.integer({ min: 1, max: 64 }), (bytes, cuts, max) => {
      const r = new LineReader(max);
      const lines: string[] = [];
      let end: 'error' | number;
      try {
        for (const c of split(bytes, cuts)) {
          r.push(c);
          for (let l = r.next(); l !== undefined; l = r.next()) lines.push(l.toString('latin1'));
        }
        end = r.pending;
      } catch (err) {
        if (!(err instanceof FtpProtocolError)) throw err;
        end = 'error';
      }
      const want = oracle(Buffer.from(bytes), max);
      assert.deepEqual({ lines, end }, want);
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: ReplyReader and the passive parsers yield steps or FtpProtocolError', () => {
  fc.assert(
    fc.property(fc.array(bytesArb, { maxLength: 12 }), fc.integer({ min: 1, max: 64 }), (lines, max) => {
      const r = new ReplyReader(max);
      for (const l of lines) {
        const line = Buffer.concat([Buffer.from(l), Buffer.from('\r\n')]);
        try {
          const step = r.feed(line);
          if (step.kind === 'pass') {
            // What passes never starts a passive reply and holds no inner CR.
            assert.doesNotMatch(stripEol(step.bytes).toString('latin1'), /^22[789]|\r/);
          }
          if (step.kind === 'passive') parsePassivePort(step.code, step.text);
        } catch (err) {
          if (!(err instanceof FtpProtocolError)) throw err;
        }
      }
    }),
    { numRuns: RUNS },
  );
});

test('fuzz: planCommand never throws; PORT/EPRT arguments parse or throw FtpProtocolError', () => {
  fc.assert(
    fc.property(bytesArb, fc.constantFrom('127.0.0.1', '::ffff:127.0.0.1', '::1', ''), (bytes, client) => {
      const body = Buffer.from(bytes);
      const plan = planCommand(body, client);
      const cmd = parseCommand(body);
      for (const parse of [parsePortArg, parseEprtArg]) {
        try {
          parse(cmd.arg);
        } catch (err) {
          if (!(err instanceof FtpProtocolError)) throw err;
        }
      }
      if (plan.kind === 'forward') assert.ok(!['PORT', 'EPRT', 'LPRT', 'LPSV', 'AUTH', 'CCC'].includes(cmd.verb));
    }),
    { numRuns: RUNS },
  );
});
