// What the relay does with each command and passive reply, without I/O: the
// relay (relay.ts) asks the hooks for addresses and sends what this returns.
//
// Data connections must go through the tunnel, so nothing that names a data
// address passes unrewritten: PORT/EPRT are checked (bounce) and rewritten,
// LPRT/LPSV/SPSV are refused, and so are the RFC 2228 security commands,
// which would encrypt or wrap the control channel the relay has to read.
import { isIPv6 } from 'node:net';
import { ipv4Octets, sameHost } from './address.js';
import { parseCommand, parseEprtArg, parsePortArg, type HostPort } from './command.js';
import { FtpProtocolError, FtpRefusal } from './errors.js';

export type CommandPlan =
  | { kind: 'forward' }
  | { kind: 'refuse'; refusal: FtpRefusal }
  /** ask hooks.active(host, port), then send activeCommandLine(result) */
  | { kind: 'active'; verb: 'PORT' | 'EPRT'; host: string; port: number };

const UNSUPPORTED = new Set(['LPRT', 'LPSV', 'SPSV']);
/** RFC 2228: AUTH/ADAT/CCC set up or drop protection; MIC/CONF/ENC carry wrapped commands the relay cannot read. */
const SECURITY = new Set(['AUTH', 'ADAT', 'CCC', 'MIC', 'CONF', 'ENC']);
const ACTIVE = new Set(['PORT', 'EPRT']);

const sensitive = (verb: string) => ACTIVE.has(verb) || UNSUPPORTED.has(verb) || SECURITY.has(verb);

/** Decides about one command line given without its terminator. Never throws. */
export function planCommand(body: Buffer, clientAddress: string): CommandPlan {
  const cmd = parseCommand(body);
  const refuse = (...a: ConstructorParameters<typeof FtpRefusal>): CommandPlan => ({ kind: 'refuse', refusal: new FtpRefusal(...a) });
  if (cmd.innerCR) return refuse('INSEL_FTP_BAD_ARGUMENT', 500, 'Command refused by the insel FTP relay: it contains a CR before the end of the line');
  if (cmd.verb !== cmd.telnetVerb && (sensitive(cmd.verb) || sensitive(cmd.telnetVerb))) {
    return refuse('INSEL_FTP_AMBIGUOUS', 500, 'Command refused by the insel FTP relay: Telnet control bytes make its verb ambiguous', { field: cmd.verb });
  }
  const verb = cmd.verb;
  if (UNSUPPORTED.has(verb)) {
    return refuse('INSEL_FTP_UNSUPPORTED', 502, `${verb} is not supported through the insel FTP relay; use EPSV/PASV or EPRT/PORT`, { field: verb });
  }
  if (SECURITY.has(verb)) {
    return refuse('INSEL_FTP_SECURITY', 534, `${verb} refused: the insel tunnel already encrypts this connection, and the FTP relay must read the control channel`, { field: verb });
  }
  if (!ACTIVE.has(verb)) return { kind: 'forward' };
  let target: HostPort;
  try {
    target = verb === 'PORT' ? parsePortArg(cmd.arg) : parseEprtArg(cmd.arg);
  } catch (err) {
    if (!(err instanceof FtpProtocolError)) throw err;
    if (err.code === 'INSEL_FTP_BAD_PROTOCOL') return refuse('INSEL_FTP_BAD_PROTOCOL', 522, 'Network protocol not supported, use (1,2)', { field: verb, cause: err });
    return refuse('INSEL_FTP_BAD_ARGUMENT', 501, `${err.message[0]!.toUpperCase()}${err.message.slice(1)}`, { field: verb, cause: err });
  }
  if (!sameHost(target.host, clientAddress)) {
    return refuse('INSEL_FTP_BOUNCE', 501, `${verb} must name your own address ${clientAddress}, not ${target.host}: the insel FTP relay refuses FTP bounce`, {
      field: verb,
      peer: clientAddress,
    });
  }
  return { kind: 'active', verb: verb as 'PORT' | 'EPRT', host: target.host, port: target.port };
}

/** PORT for an IPv4 target, EPRT |2| for IPv6, undefined for anything else. */
export function activeCommandLine(target: HostPort): Buffer | undefined {
  if (!validPort(target.port)) return undefined;
  const v4 = ipv4Octets(target.host);
  if (v4 !== undefined) return Buffer.from(`PORT ${v4.join(',')},${target.port >> 8},${target.port & 0xff}\r\n`);
  if (isIPv6(target.host) && !target.host.includes('%')) return Buffer.from(`EPRT |2|${target.host}|${target.port}|\r\n`);
  return undefined;
}

/**
 * The passive reply for the client: 227 with the target's IPv4 tuple, or
 * 229 with its port (the client connects to the control connection's host).
 * A refusal when a 227 target is not IPv4 or the port is out of range.
 */
export function passiveReplyLine(code: 227 | 229, target: HostPort): Buffer | FtpRefusal {
  if (!validPort(target.port)) return new FtpRefusal('INSEL_FTP_HOOK_FAILED', 425, `Can't open data connection: the insel tunnel returned port ${target.port}`);
  if (code === 229) return Buffer.from(`229 Entering Extended Passive Mode (|||${target.port}|)\r\n`);
  const v4 = ipv4Octets(target.host);
  if (v4 === undefined) return new FtpRefusal('INSEL_FTP_NOT_IPV4', 425, `Can't open data connection: the insel tunnel's data address ${target.host} is not IPv4; use EPSV`);
  return Buffer.from(`227 Entering Passive Mode (${v4.join(',')},${target.port >> 8},${target.port & 0xff}).\r\n`);
}

/** The one-line FTP reply carrying a refusal. */
export function refusalReply(r: FtpRefusal): Buffer {
  return Buffer.from(`${r.replyCode} ${oneLine(r.message)}\r\n`);
}

/** Text safe inside one reply line: no control bytes, bounded length. */
export function oneLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]+/g, ' ').slice(0, 400);
}

function validPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}
