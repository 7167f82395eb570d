// The FTP-aware relay for one control connection. Pipeline, per direction:
//   client -> LineReader -> [wait for the greeting] -> planCommand -> [hooks.active] -> server
//   server -> LineReader -> ReplyReader -> [hooks.passive] -> ReplyOrder -> client
// Each direction handles one line at a time: while a hook is pending, later
// bytes of that direction wait in the socket (the source is paused), so
// commands and replies stay in order. Writes honour backpressure. No command
// goes out before the server's first line: the gateway trusts a control
// connection for data only if its server spoke first (PROTOCOL §5.5).
import type { Duplex } from 'node:stream';
import type { HostPort } from './command.js';
import { FtpProtocolError, FtpRefusal, type FtpRefusalCode } from './errors.js';
import { LineReader, stripEol } from './line-reader.js';
import { ReplyOrder, isFinalCode } from './order.js';
import { ReplyReader, parsePassivePort } from './reply.js';
import { activeCommandLine, oneLine, passiveReplyLine, planCommand, refusalReply } from './rewrite.js';

export interface FtpDataHooks {
  /**
   * Passive mode: the server (through the tunnel) offered data port
   * `serverPort` on its host (the IP of a 227 is ignored: that defeats FTP
   * bounce and NATed servers reporting private IPs). Returns where the local
   * client should connect instead, a one-shot local listener carried through
   * the tunnel to that port. For 229 only the port is used: the client
   * connects to the host of its control connection.
   */
  passive(serverPort: number): Promise<HostPort>;
  /**
   * Active mode: the local client asked (PORT/EPRT) to be connected at
   * clientHost:clientPort. Returns the gateway-side address the server
   * should connect to instead: a one-shot listener at the gateway whose
   * connection comes back through the tunnel to clientHost:clientPort.
   */
  active(clientHost: string, clientPort: number): Promise<HostPort>;
}

export type FtpRelayEvent = 'passive' | 'active' | 'refused' | 'violation' | 'partial-line' | 'stream-error';

export interface FtpRelayOptions {
  hooks: FtpDataHooks;
  /** the address the local client connected from: PORT/EPRT naming any other host is refused (bounce protection) */
  clientAddress: string;
  log?: (event: FtpRelayEvent, detail: Record<string, unknown>) => void;
  /** longest command or reply line, terminator included; default 8192 */
  maxLineBytes?: number;
  /** a hook that has not answered by then counts as failed (425); default 30000 */
  hookTimeoutMs?: number;
}

export interface FtpRelayResult {
  /** command lines from the client */
  commands: number;
  /** whole replies from the server */
  replies: number;
  /** passive replies rewritten */
  passive: number;
  /** PORT/EPRT commands rewritten */
  active: number;
  /** commands refused and server replies replaced */
  refused: number;
  /** 'eof' for an orderly close, 'error' for a stream error, else the code of the violation that ended the session */
  end: 'eof' | 'error' | FtpRefusalCode;
}

export const DEFAULT_MAX_LINE_BYTES = 8192;
const DEFAULT_HOOK_TIMEOUT_MS = 30_000;
/** Commands without a reply yet; real clients have one or two outstanding. */
const MAX_PENDING = 256;
/** After a violation, how long the client gets to read the reply before its socket is destroyed. */
const LINGER_MS = 2000;

/**
 * Relays one FTP control connection: `client` is the accepted local socket,
 * `server` the tunnelled stream to the FTP server. Resolves when both have
 * closed. Never throws for bad input: a protocol violation ends the session
 * with a reply to the client and a close.
 */
export function relayFtpControl(client: Duplex, server: Duplex, opts: FtpRelayOptions): Promise<FtpRelayResult> {
  return new ControlRelay(client, server, opts).run();
}

class ControlRelay {
  private readonly counts = { commands: 0, replies: 0, passive: 0, active: 0, refused: 0 };
  private readonly order = new ReplyOrder();
  private readonly max: number;
  private readonly replyReader: ReplyReader;
  private ending = false;
  private end: FtpRelayResult['end'] = 'eof';
  /** resolves at the server's first line (or its end); commands wait for it, at most one hook timeout */
  private greeted: Promise<void>;
  private greet!: () => void;

  constructor(
    private readonly client: Duplex,
    private readonly server: Duplex,
    private readonly opts: FtpRelayOptions,
  ) {
    this.max = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.replyReader = new ReplyReader(this.max);
    this.greeted = new Promise((resolve) => (this.greet = resolve));
  }

  run(): Promise<FtpRelayResult> {
    return new Promise((resolve) => {
      let open = 2;
      const closed = () => {
        if (--open === 0) resolve({ ...this.counts, end: this.end });
      };
      for (const [side, s] of [['client', this.client], ['server', this.server]] as const) {
        s.on('error', (err: Error) => this.streamError(side, err));
        if (s.closed) closed();
        else s.once('close', closed);
      }
      this.pump('client', this.client, (l) => this.onCommand(l), () => this.clientEnded());
      this.pump('server', this.server, (l) => this.onReply(l), () => this.serverEnded());
    });
  }

  /** Feeds `src` line by line to `onLine`, pausing it while a line is handled. */
  private pump(side: 'client' | 'server', src: Duplex, onLine: (line: Buffer) => Promise<void>, onEnd: () => void): void {
    const reader = new LineReader(this.max);
    let busy = false;
    let ended = false;
    const finish = () => {
      if (this.ending) return;
      if (reader.pending > 0) this.log('partial-line', { side, bytes: reader.pending, reason: 'dropped: a line without its terminator at end of stream' });
      onEnd();
    };
    const drain = async () => {
      busy = true;
      try {
        for (let line = reader.next(); line !== undefined && !this.ending; line = reader.next()) await onLine(line);
      } catch (err) {
        this.violation(side, err);
      }
      busy = false;
      if (ended) finish();
      else src.resume();
    };
    src.on('data', (chunk: Buffer | string) => {
      if (this.ending) return;
      reader.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      src.pause();
      void drain();
    });
    src.on('end', () => {
      ended = true;
      if (!busy) finish();
    });
  }

  private async onCommand(line: Buffer): Promise<void> {
    this.counts.commands++;
    await this.waitForGreeting();
    const plan = planCommand(stripEol(line), this.opts.clientAddress);
    if (plan.kind === 'refuse') return this.refuse(plan.refusal);
    if (plan.kind === 'forward') return this.toServer(line);
    let target: HostPort;
    try {
      target = await this.hook(() => this.opts.hooks.active(plan.host, plan.port));
    } catch (err) {
      return this.refuse(hookFailed(err));
    }
    const out = activeCommandLine(target);
    if (out === undefined) return this.refuse(new FtpRefusal('INSEL_FTP_HOOK_FAILED', 425, `Can't open data connection: the insel tunnel returned ${oneLine(String(target.host))}:${target.port}, not an IP address and port`));
    this.counts.active++;
    this.log('active', { verb: plan.verb, clientHost: plan.host, clientPort: plan.port, host: target.host, port: target.port });
    return this.toServer(out);
  }

  private async onReply(line: Buffer): Promise<void> {
    this.greet();
    const step = this.replyReader.feed(line);
    if (step.kind === 'hold') return;
    if (step.kind === 'pass') {
      await this.send(this.client, step.bytes);
      if (step.ended === undefined) return;
      this.counts.replies++;
      if (isFinalCode(step.ended)) await this.sendLocal(this.order.serverFinal());
      return;
    }
    this.counts.replies++;
    const out = await this.rewritePassive(step.code, step.text);
    await this.send(this.client, out);
    await this.sendLocal(this.order.serverFinal());
  }

  /** The client's version of a passive reply: rewritten, or a 425 saying why not. */
  private async rewritePassive(code: number, text: string): Promise<Buffer> {
    let refusal: FtpRefusal;
    try {
      const serverPort = parsePassivePort(code, text);
      const target = await this.hook(() => this.opts.hooks.passive(serverPort));
      const out = passiveReplyLine(code as 227 | 229, target);
      if (out instanceof FtpRefusal) refusal = out;
      else {
        this.counts.passive++;
        this.log('passive', { reply: code, serverPort, host: target.host, port: target.port });
        return out;
      }
    } catch (err) {
      refusal =
        err instanceof FtpProtocolError
          ? new FtpRefusal('INSEL_FTP_BAD_PASSIVE_REPLY', 425, `Can't open data connection: the insel FTP relay could not parse the server's passive reply (${err.message})`, { cause: err })
          : hookFailed(err);
    }
    this.counts.refused++;
    this.log('refused', { side: 'server', code: refusal.code, reply: refusal.replyCode, reason: refusal.message });
    return refusalReply(refusal);
  }

  private async refuse(r: FtpRefusal): Promise<void> {
    this.counts.refused++;
    this.log('refused', { side: 'client', code: r.code, reply: r.replyCode, verb: r.field, reason: r.message });
    await this.sendLocal(this.order.local(refusalReply(r)));
  }

  private async toServer(bytes: Buffer): Promise<void> {
    if (this.order.pending >= MAX_PENDING) {
      throw new FtpRefusal('INSEL_FTP_PIPELINE_FULL', 500, `More than ${MAX_PENDING} commands without a reply; the insel FTP relay closes this session`);
    }
    this.order.forwarded();
    await this.send(this.server, bytes);
  }

  private async sendLocal(replies: Buffer[]): Promise<void> {
    for (const r of replies) await this.send(this.client, r);
  }

  /** Writes unless the session is over; waits for 'drain' when the buffer is full. */
  private async send(dest: Duplex, bytes: Buffer): Promise<void> {
    if (this.ending || dest.destroyed || dest.writableEnded) return;
    if (dest.write(bytes)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        dest.off('drain', done);
        dest.off('close', done);
        resolve();
      };
      dest.on('drain', done);
      dest.on('close', done);
    });
  }

  /** A client that speaks before the server's greeting (pipelining) is held until it comes. */
  private async waitForGreeting(): Promise<void> {
    const ms = this.opts.hookTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.greeted, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
    this.greet(); // waited once: a server that never greets does not cost every command a timeout
  }

  private async hook(call: () => Promise<HostPort>): Promise<HostPort> {
    const ms = this.opts.hookTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        Promise.resolve().then(call),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private clientEnded(): void {
    if (!this.server.writableEnded) this.server.end();
  }

  private serverEnded(): void {
    this.greet();
    // The server will not answer any more: replies held behind it are due.
    for (const r of this.order.drainAll()) if (!this.client.writableEnded && !this.client.destroyed) this.client.write(r);
    if (!this.client.writableEnded) this.client.end();
  }

  /** Ends the session after bytes that break the protocol, telling the client why. */
  private violation(side: 'client' | 'server', err: unknown): void {
    if (this.ending) return;
    let r: FtpRefusal;
    if (err instanceof FtpRefusal) r = err;
    else if (err instanceof FtpProtocolError && err.code === 'INSEL_FTP_LINE_TOO_LONG') {
      r =
        side === 'client'
          ? new FtpRefusal('INSEL_FTP_LINE_TOO_LONG', 500, `Command line too long (over ${this.max} bytes); the insel FTP relay closes this session`)
          : new FtpRefusal('INSEL_FTP_LINE_TOO_LONG', 421, `Server reply line too long (over ${this.max} bytes); the insel FTP relay closes this session`);
    } else if (err instanceof FtpProtocolError && err.code === 'INSEL_FTP_REPLY_TOO_LONG') {
      r = new FtpRefusal('INSEL_FTP_REPLY_TOO_LONG', 421, `Server passive reply too long (over ${this.max} bytes); the insel FTP relay closes this session`);
    } else {
      r = new FtpRefusal('INSEL_FTP_INTERNAL', 421, 'Internal error in the insel FTP relay; closing this session', { cause: err });
    }
    this.log('violation', { side, code: r.code, reply: r.replyCode, reason: r.message, ...(r.code === 'INSEL_FTP_INTERNAL' ? { error: String(err) } : {}) });
    this.end = r.code as FtpRefusalCode;
    this.ending = true;
    this.greet();
    this.server.destroy();
    const c = this.client;
    if (!c.destroyed && !c.writableEnded) c.end(refusalReply(r));
    // Keep reading (and dropping) what the client still sends: closing with
    // unread bytes would reset the connection and could lose the reply.
    c.resume();
    const timer = setTimeout(() => c.destroy(), LINGER_MS);
    c.once('close', () => clearTimeout(timer));
    if (c.closed) clearTimeout(timer);
  }

  private streamError(side: 'client' | 'server', err: Error): void {
    this.log('stream-error', { side, reason: err.message });
    if (!this.ending) this.end = 'error';
    this.ending = true;
    this.greet();
    this.client.destroy();
    this.server.destroy();
  }

  private log(event: FtpRelayEvent, detail: Record<string, unknown>): void {
    this.opts.log?.(event, { peer: this.opts.clientAddress, ...detail });
  }
}

function hookFailed(err: unknown): FtpRefusal {
  const why = err instanceof Error ? err.message : String(err);
  return new FtpRefusal('INSEL_FTP_HOOK_FAILED', 425, `Can't open data connection through the insel tunnel: ${oneLine(why)}`, { cause: err });
}
