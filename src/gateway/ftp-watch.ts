// What the gateway itself saw on one FTP control connection, and so which
// data connections it may carry (docs/PROTOCOL.md §5.5). The client only
// says "this is FTP"; authority comes from the relayed bytes:
//   server -> client: the first line must be a 220 greeting, sent before the
//                     client said anything (a service that echoes cannot
//                     fake it); each 227/229 announces one passive data port
//   client -> server: PORT/EPRT naming one of the gateway's active-mode
//                     listeners for this control connection arms it
// Pure: no sockets, no timers; the caller feeds the bytes it relays (never
// changing them) and asks before it dials or accepts.
import { sameHost } from '../ftp/address.js';
import { parseCommand, parseEprtArg, parsePortArg, type HostPort } from '../ftp/command.js';
import { FtpProtocolError } from '../ftp/errors.js';
import { LineReader, stripEol } from '../ftp/line-reader.js';
import { DEFAULT_MAX_LINE_BYTES } from '../ftp/relay.js';
import { ReplyReader, parsePassivePort } from '../ftp/reply.js';

/** A passive announcement not used within this time is forgotten. */
export const PASSIVE_TTL_MS = 30_000;
/** Passive announcements remembered at once; older ones are forgotten first. */
const MAX_ANNOUNCED = 8;
/** Active-mode listeners open at once per control connection. */
export const MAX_ACTIVE_PER_CONTROL = 4;
/** Active-mode listeners open at once per session, over all its control connections. */
export const MAX_ACTIVE_PER_SESSION = 16;

/** An active-mode listener of a control connection: armed once a relayed PORT/EPRT named its port. */
export interface ActivePort {
  port: number | undefined;
  armed: boolean;
}

type Greeting = 'waiting' | 'ftp' | { notFtp: string };

export class FtpWatch {
  private greeting: Greeting = 'waiting';
  private readonly serverLines = new LineReader(DEFAULT_MAX_LINE_BYTES);
  private readonly clientLines = new LineReader(DEFAULT_MAX_LINE_BYTES);
  private readonly replies = new ReplyReader(DEFAULT_MAX_LINE_BYTES);
  /** announced passive ports, oldest first, each good for one connection until `expires` */
  private announced: { port: number; expires: number }[] = [];
  /** this control's active-mode listeners */
  private readonly active = new Set<ActivePort>();

  /** `localAddress`: the gateway's own address on the control connection, what a relayed PORT/EPRT must name. */
  constructor(
    private readonly localAddress: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Why this control connection can authorize no data connection; undefined while it can. */
  get unusable(): string | undefined {
    if (this.greeting === 'waiting') return 'the server has not yet greeted with 220';
    return this.greeting === 'ftp' ? undefined : this.greeting.notFtp;
  }

  /** Bytes the gateway relays from the server to the client. */
  fromServer(chunk: Buffer): void {
    this.read(this.serverLines, chunk, (line) => this.onReply(line));
  }

  /** Bytes the gateway relays from the client to the server. */
  fromClient(chunk: Buffer): void {
    if (this.greeting === 'waiting') return this.notFtp('the client spoke before the server greeted with 220');
    this.read(this.clientLines, chunk, (line) => this.onCommand(line));
  }

  /** Uses up one announcement of `port`; returns why not when there is none. */
  takePassive(port: number): string | undefined {
    const why = this.unusable;
    if (why !== undefined) return why;
    const t = this.now();
    this.announced = this.announced.filter((a) => a.expires > t);
    const i = this.announced.findIndex((a) => a.port === port);
    if (i < 0) return `the server announced no passive data port ${port} (227/229) in the last ${PASSIVE_TTL_MS / 1000} s, or it was used already`;
    this.announced.splice(i, 1);
    return undefined;
  }

  /** Holds a place for one active-mode listener; its port is set once bound. Count first, bind after. */
  reserveActive(): ActivePort {
    const slot: ActivePort = { port: undefined, armed: false };
    this.active.add(slot);
    return slot;
  }

  releaseActive(slot: ActivePort): void {
    this.active.delete(slot);
  }

  /** Active-mode listeners open (or opening) on this control connection. */
  get activeOpen(): number {
    return this.active.size;
  }

  private read(lines: LineReader, chunk: Buffer, onLine: (line: Buffer) => void): void {
    if (typeof this.greeting === 'object') return; // decided for good: nothing more to parse
    try {
      lines.push(chunk);
      for (let line = lines.next(); line !== undefined && typeof this.greeting !== 'object'; line = lines.next()) onLine(line);
    } catch (err) {
      if (!(err instanceof FtpProtocolError)) throw err;
      this.notFtp(`its control connection broke FTP framing (${err.message})`);
    }
  }

  private onReply(line: Buffer): void {
    if (this.greeting === 'waiting') {
      if (!/^220[ -]/.test(stripEol(line).toString('latin1'))) return this.notFtp('its server did not greet with 220: it does not speak FTP');
      this.greeting = 'ftp';
    }
    const step = this.replies.feed(line);
    if (step.kind !== 'passive') return;
    let port: number;
    try {
      port = parsePassivePort(step.code, step.text);
    } catch (err) {
      if (err instanceof FtpProtocolError) return; // the client's relay refuses it too
      throw err;
    }
    this.announced.push({ port, expires: this.now() + PASSIVE_TTL_MS });
    if (this.announced.length > MAX_ANNOUNCED) this.announced.shift();
  }

  private onCommand(line: Buffer): void {
    const cmd = parseCommand(stripEol(line));
    // Lines the client's relay would refuse (ambiguous verb, inner CR) arm nothing.
    if (cmd.innerCR || cmd.verb !== cmd.telnetVerb || (cmd.verb !== 'PORT' && cmd.verb !== 'EPRT')) return;
    let named: HostPort;
    try {
      named = cmd.verb === 'PORT' ? parsePortArg(cmd.arg) : parseEprtArg(cmd.arg);
    } catch (err) {
      if (err instanceof FtpProtocolError) return;
      throw err;
    }
    if (!sameHost(named.host, this.localAddress)) return;
    for (const slot of this.active) if (slot.port === named.port) slot.armed = true;
  }

  private notFtp(why: string): void {
    this.greeting = { notFtp: why };
    this.announced = [];
  }
}
