// FTP commands (client to server), parsed only as far as the relay needs:
// the verb, and the arguments of PORT (RFC 959) and EPRT (RFC 2428).
//
// The verb is read as a lenient server would: leading spaces, control bytes
// and Telnet IAC sequences skipped, letters up to the first non-letter,
// case-insensitive. Telnet-aware and naive servers can disagree on lines
// with IAC bytes (IAC WILL 'P' "ORT ..."), so both readings are returned and
// the caller treats the line as sensitive if either is.
import { isIPv4, isIPv6 } from 'node:net';
import { FtpProtocolError } from './errors.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface ParsedCommand {
  /** upper-cased verb after skipping leading non-printable bytes ('' if none) */
  verb: string;
  /** the verb once Telnet IAC sequences are removed, as a Telnet-aware server reads it */
  telnetVerb: string;
  /** the argument text (latin1) after the verb, outer blanks trimmed */
  arg: string;
  /** a CR inside the line: some servers end a line there, so what follows could be a hidden second command */
  innerCR: boolean;
}

const IAC = 0xff;
const SB = 0xfa;
const SE = 0xf0;

/** Parses a line without its terminator (see stripEol). Never throws. */
export function parseCommand(body: Buffer): ParsedCommand {
  const text = body.toString('latin1');
  const naive = verbAndArg(text);
  const telnetVerb = body.includes(IAC) ? verbAndArg(stripTelnet(body).toString('latin1')).verb : naive.verb;
  return { verb: naive.verb, telnetVerb, arg: naive.arg, innerCR: body.includes(0x0d) };
}

function verbAndArg(text: string): { verb: string; arg: string } {
  const m = /^[\x00-\x20\x7f-\xff]*([A-Za-z]*)(.*)$/s.exec(text)!;
  return { verb: m[1]!.toUpperCase(), arg: m[2]!.replace(/^[ \t]+|[ \t]+$/g, '') };
}

/** Removes Telnet commands (RFC 854): IAC IAC is a data 0xff, IAC SB .. IAC SE and IAC x [opt] go. */
export function stripTelnet(body: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const b = body[i]!;
    if (b !== IAC) {
      out.push(b);
      continue;
    }
    const cmd = body[i + 1];
    if (cmd === IAC) out.push(IAC);
    if (cmd === SB) {
      let j = i + 2;
      while (j < body.length && !(body[j] === IAC && body[j + 1] === SE)) j++;
      i = j + 1;
      continue;
    }
    // WILL, WONT, DO, DONT carry an option byte.
    i += cmd !== undefined && cmd >= 0xfb && cmd <= 0xfe ? 2 : 1;
  }
  return Buffer.from(out);
}

/** `h1,h2,h3,h4,p1,p2` (RFC 959). Throws FtpProtocolError('INSEL_FTP_BAD_ARGUMENT'). */
export function parsePortArg(arg: string): HostPort {
  const m = /^(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})$/.exec(arg);
  const n = m?.slice(1).map(Number);
  if (n === undefined || n.some((x) => x > 255)) {
    throw new FtpProtocolError('INSEL_FTP_BAD_ARGUMENT', 'malformed PORT argument; expected h1,h2,h3,h4,p1,p2 with numbers 0-255', { field: 'PORT' });
  }
  const port = n[4]! * 256 + n[5]!;
  if (port === 0) throw new FtpProtocolError('INSEL_FTP_BAD_ARGUMENT', 'PORT names port 0', { field: 'PORT' });
  return { host: n.slice(0, 4).join('.'), port };
}

/**
 * `<d><proto><d><addr><d><port><d>` (RFC 2428) with proto 1 (IPv4) or 2
 * (IPv6). Throws FtpProtocolError: 'INSEL_FTP_BAD_PROTOCOL' for another
 * protocol number (reply 522), 'INSEL_FTP_BAD_ARGUMENT' otherwise.
 */
export function parseEprtArg(arg: string): HostPort {
  const bad = (why: string) => new FtpProtocolError('INSEL_FTP_BAD_ARGUMENT', `malformed EPRT argument: ${why}; expected |1|a.b.c.d|port| or |2|ipv6|port|`, { field: 'EPRT' });
  const d = arg[0];
  if (d === undefined || d.charCodeAt(0) < 33 || d.charCodeAt(0) > 126) throw bad('no delimiter');
  const parts = arg.slice(1).split(d);
  if (parts.length !== 4 || parts[3] !== '') throw bad('wrong number of fields');
  const [proto, host, portText] = parts as [string, string, string];
  if (proto !== '1' && proto !== '2') {
    throw new FtpProtocolError('INSEL_FTP_BAD_PROTOCOL', `EPRT network protocol ${JSON.stringify(proto)} is not supported`, { field: 'EPRT' });
  }
  if (proto === '1' ? !isIPv4(host) : !isIPv6(host)) throw bad(`${JSON.stringify(host)} is not an IPv${proto === '1' ? 4 : 6} address`);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) throw bad('port out of range');
  return { host, port: Number(portText) };
}
