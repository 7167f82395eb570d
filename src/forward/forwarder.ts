// A set of forwards over one gateway session, kept up: local listeners are
// bound first (a port in use fails at once), then the session opens; when
// it is lost, local listeners pause (connections are refused, not accepted
// and dropped) and the session is retried with exponential backoff.
import { connect as secConnect } from '../secsock/client.js';
import type { ForwardContext } from './context.js';
import { ForwardError } from './errors.js';
import type { IdentityPem } from '../pki/profile.js';
import { GATEWAY_ROLES } from './gateway-trust.js';
import { LocalForward } from './local.js';
import { RemoteForward } from './remote.js';
import { ForwardSession } from './session.js';
import { formatHostPort, type HostPort } from '../net/host-port.js';
import { type ForwardSpec } from './spec.js';
import { UdpLocalForward } from '../udpflow/local.js';
import { DynamicForward, type DynamicOptions } from '../socks/server.js';
import type { SocksCredentials } from '../socks/handshake.js';
import type { MuxHeaders } from '../mux/index.js';
import type { Role } from '../pki/identity.js';

export interface ForwarderOptions {
  via: HostPort;
  identity: IdentityPem;
  /** the name the gateway's certificate must carry (gateway-trust.ts); default: the via host */
  gatewayName?: string;
  /** the roles the gateway may have (gateway-trust.ts); default: server */
  gatewayRoles?: readonly Role[];
  allowStaleCrl?: boolean;
  /** where a CRL refreshed from the gateway is stored */
  crlFile?: string;
  /** where identity.ca came from: the trust bundle is refreshed from the gateway and stored there (an organization's user profile) */
  caFile?: string;
  /** `request`: what a -L connection asks for instead of CONNECT host:hostport (an org service); `socksAuth`: -D's RFC 1929 credentials */
  forwards: (ForwardSpec & { ftp?: boolean; request?: MuxHeaders; socksAuth?: SocksCredentials })[];
  /** false: the first session must open, or start() fails (CLI flags); true: keep trying (a config file) */
  persistent: boolean;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  udpIdleMs?: number;
  /** a forward is listening, or the session changed: one line each */
  info(line: string): void;
  warn(line: string): void;
  verbose?(line: string): void;
}

export class Forwarder {
  private current: ForwardSession | undefined;
  private readonly locals: LocalForward[] = [];
  private readonly remotes: RemoteForward[] = [];
  private readonly dynamics: DynamicForward[] = [];
  private readonly udps: UdpLocalForward[] = [];
  private backoff: number;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly ctx: ForwardContext;
  /** resolves when a session is up (for tests and for -U start-up) */
  private upWaiters: (() => void)[] = [];
  /** ours, with the CRL (and trust bundle) as last refreshed from the gateway */
  private identity: IdentityPem;

  private constructor(private readonly opts: ForwarderOptions) {
    this.backoff = opts.reconnectMinMs ?? 500;
    this.identity = opts.identity;
    this.ctx = { session: () => this.current, warn: opts.warn, verbose: opts.verbose ?? (() => undefined) };
  }

  static async start(opts: ForwarderOptions): Promise<Forwarder> {
    const f = new Forwarder(opts);
    try {
      for (const spec of opts.forwards) {
        if (spec.kind === 'L') f.locals.push(await LocalForward.start(spec, spec.ftp === true, f.ctx, spec.request));
        else if (spec.kind === 'R') f.remotes.push(new RemoteForward(spec, f.ctx));
        else if (spec.kind === 'D') f.dynamics.push(await DynamicForward.start(spec, f.ctx, f.dynamicOptions(spec.socksAuth)));
      }
      // Bound (so a port in use fails at once, and port 0 is chosen), but
      // refusing until the session is up: connect() resumes them. Otherwise a
      // connection during the first connect is accepted, then reset.
      for (const l of f.listeners) l.pause();
      let up = true;
      try {
        await f.connect();
      } catch (err) {
        if (!opts.persistent) throw err;
        up = false;
        f.lost(`gateway ${formatHostPort(opts.via.host, opts.via.port)} unreachable: ${(err as Error).message}`);
      }
      // Printed once the first connect is decided: a script that waits for
      // this line and connects at once is not refused by a paused listener.
      for (const l of f.listeners) opts.info(l.line);
      if (up) opts.info(`session with gateway ${formatHostPort(opts.via.host, opts.via.port)} established`);
    } catch (err) {
      await f.close();
      throw err;
    }
    return f;
  }

  /** The forward listening ports, in the order given (-L and -U). */
  get ports(): number[] {
    return [...this.locals.map((l) => l.port), ...this.udps.map((u) => u.port)];
  }

  /** The -D listening ports, in the order given. */
  get dynamicPorts(): number[] {
    return this.dynamics.map((d) => d.port);
  }

  /** SOCKS UDP counters of the -D forwards, summed. */
  socksStats(): ReturnType<DynamicForward['stats']>[] {
    return this.dynamics.map((d) => d.stats());
  }

  get session(): ForwardSession | undefined {
    return this.current;
  }

  /** Resolves once a session is up. */
  whenUp(): Promise<void> {
    if (this.current) return Promise.resolve();
    return new Promise((resolve) => this.upWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    for (const l of this.listeners) l.close();
    for (const r of this.remotes) r.close();
    await Promise.all(this.udps.map((u) => u.close()));
    this.current?.close();
    this.current = undefined;
  }

  private async connect(): Promise<void> {
    const { via, gatewayName, gatewayRoles, allowStaleCrl, crlFile, caFile, warn } = this.opts;
    const session = await ForwardSession.open({
      via,
      identity: this.identity,
      warn,
      ...(gatewayName === undefined ? {} : { gatewayName }),
      ...(gatewayRoles === undefined ? {} : { gatewayRoles }),
      ...(allowStaleCrl === undefined ? {} : { allowStaleCrl }),
      ...(crlFile === undefined ? {} : { crlFile }),
      ...(caFile === undefined ? {} : { caFile }),
    });
    if (session.crl !== undefined) this.identity = { ...this.identity, crl: session.crl };
    // A reconnect after the site moved onto a new root needs the bundle that holds it.
    if (session.ca !== undefined) this.identity = { ...this.identity, ca: session.ca };
    if (this.closed) return session.close();
    this.current = session;
    this.backoff = this.opts.reconnectMinMs ?? 500;
    session.once('close', (reason: string) => {
      if (this.current === session) this.current = undefined;
      if (!this.closed) this.lost(`session with gateway lost: ${reason}`);
    });
    await Promise.all(this.listeners.map((l) => l.resume()));
    for (const u of this.udps) u.resume();
    for (const r of this.remotes) {
      try {
        await r.attach(session);
        this.opts.info(r.line);
      } catch (err) {
        this.opts.warn(`-R ${r.spec.text}: ${(err as Error).message}`);
      }
    }
    if (this.udps.length === 0) await this.startUdp(session);
    for (const w of this.upWaiters.splice(0)) w();
  }

  /** The local TCP listeners (-L and -D): paused while the session is away. */
  private get listeners(): (LocalForward | DynamicForward)[] {
    return [...this.locals, ...this.dynamics];
  }

  private dynamicOptions(auth: SocksCredentials | undefined): DynamicOptions {
    return {
      ...(auth === undefined ? {} : { auth }),
      udpChannel: () => {
        const port = this.current?.udpChannelTcpPort;
        return port === undefined ? undefined : this.openUdpChannel(port);
      },
    };
  }

  private async startUdp(session: ForwardSession): Promise<void> {
    for (const spec of this.opts.forwards.filter((s) => s.kind === 'U')) {
      if (session.udpChannelTcpPort === undefined) {
        throw new ForwardError('INSEL_GATEWAY', `-U ${spec.text}: the gateway takes no UDP forwards (its config has no udp_listen)`);
      }
      const u = await UdpLocalForward.start({
        bind: spec.bind,
        port: spec.port,
        host: spec.host,
        hostPort: spec.hostPort,
        idleMs: this.opts.udpIdleMs ?? 60_000,
        log: (line) => (/denied|refused|lost/i.test(line) ? this.opts.warn : (this.opts.verbose ?? (() => undefined)))(`-U ${spec.text}: ${line}`),
        openChannel: () => this.openUdpChannel(this.current?.udpChannelTcpPort ?? session.udpChannelTcpPort!),
      });
      this.udps.push(u);
      this.opts.info(`forward -U ${formatHostPort(spec.bind, u.port)} -> ${formatHostPort(spec.host, spec.hostPort)}`);
    }
  }

  /** A SecSockets UDP channel to the gateway, with the same checks as the session's: role server, the same name, the CRL it refreshed. */
  private openUdpChannel(port: number): ReturnType<typeof secConnect> {
    return secConnect({
      transport: 'udp',
      host: this.opts.via.host,
      port,
      identity: this.identity,
      peerRoles: [...(this.opts.gatewayRoles ?? GATEWAY_ROLES)],
      serverName: this.opts.gatewayName ?? this.opts.via.host,
      allowStaleCrl: this.opts.allowStaleCrl === true,
    });
  }

  private lost(why: string): void {
    for (const l of this.listeners) l.pause();
    for (const r of this.remotes) r.close();
    // No UDP channel outlives the session: a gateway that cut the session (a revoked certificate) wants none.
    for (const u of this.udps) u.suspend(why);
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.opts.reconnectMaxMs ?? 30_000);
    this.opts.warn(`${why}; local forwards refuse connections; retrying in ${(wait / 1000).toFixed(1)} s`);
    this.timer = setTimeout(() => {
      if (this.closed) return;
      this.connect().then(
        () => this.opts.info(`session with gateway ${formatHostPort(this.opts.via.host, this.opts.via.port)} re-established`),
        (err: Error) => this.lost(`gateway still unreachable: ${err.message}`),
      );
    }, wait);
  }
}
