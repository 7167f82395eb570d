// The client's transport ladder (ISSUE14 §5), without sockets or timers:
// rungs 'udp' → 'tcp' (the same sealed datagrams as PACKET frames on the TLS
// connection to the server's tcpPort) → 'http-proxy' (that TLS connection
// through an HTTP CONNECT proxy). The daemon feeds it what it sees and calls
// tick() from its ticker every 100-250 ms; the ladder answers through
// `switchTo` (move the data path; also called once by start()) and
// `probeUdp` (send one KEEPALIVE over UDP, which the server answers over UDP).
//
// Falling: on UDP, a reply is expected once we sent something (onUdpTx, a
// probe, or nothing heard for idleMs); while none comes, a KEEPALIVE goes
// every probeAfterMs, and after silenceMs (firstReplyMs when starting) with at
// least two probes unanswered the ladder falls to the stream rung: ≤ 2 s +
// one tick after UDP breaks under traffic, so within the issue's 3 s.
// Climbing: on a stream rung UDP is probed every retryMs (5 s), after
// retryBackoffAfter probes every retryMaxMs (10 s); the first authentic UDP
// datagram after a probe climbs back, so ≤ 10 s + RTT + one tick after UDP
// works again (the issue asks 30 s). A fall soon after a climb (flapMs)
// starts at the slow interval, so a flapping path costs little.
// The stream rung: 'tcp' until the TCP connection goes down with a proxy
// configured, then 'http-proxy', and back on the next loss (onTcpDown).
import type { Clock } from '../../secsock/clock.js';

export type Rung = 'udp' | 'tcp' | 'http-proxy';
export type StreamRung = Exclude<Rung, 'udp'>;

export interface LadderTiming {
  firstReplyMs: number;
  probeAfterMs: number;
  silenceMs: number;
  idleMs: number;
  retryMs: number;
  retryMaxMs: number;
  retryBackoffAfter: number;
  flapMs: number;
}

export const LADDER_TIMING: LadderTiming = {
  firstReplyMs: 1000,
  probeAfterMs: 500,
  silenceMs: 2000,
  idleMs: 10_000,
  retryMs: 5000,
  retryMaxMs: 10_000,
  retryBackoffAfter: 3,
  flapMs: 60_000,
};

export interface LadderOptions {
  clock: Clock;
  /** The server's UDP address as "host:port", named in `why`. */
  udpTarget: string;
  /** The server's TLS/TCP address as "host:port". */
  tcpTarget: string;
  /** The HTTP CONNECT proxy as "host:port", when configured. */
  httpProxy?: string;
  /** false: TCP transport only (`proto tcp`): start on the stream rung and never probe UDP. */
  udp?: boolean;
  switchTo(rung: Rung, why: string): void;
  probeUdp(): void;
  timing?: Partial<LadderTiming>;
}

export class Ladder {
  private readonly o: LadderOptions;
  private readonly t: LadderTiming;
  private _rung: Rung = 'udp';
  private _why = 'not started';
  private _since: number;
  private _stream: StreamRung = 'tcp';
  // on UDP
  private lastRx: number;
  /** when we first sent without hearing back since; undefined when nothing is owed */
  private expectSince: number | undefined;
  private unanswered = 0;
  private lastProbe = -Infinity;
  private starting = true;
  private climbedAt = -Infinity;
  // on a stream rung
  private nextRetry = 0;
  private retries = 0;
  private firstRetryAt: number | undefined;

  constructor(options: LadderOptions) {
    this.o = options;
    this.t = { ...LADDER_TIMING, ...options.timing };
    this._since = options.clock.now();
    this.lastRx = this._since;
  }

  get rung(): Rung {
    return this._rung;
  }

  /** Why the ladder is on this rung, in words for `insel status`. */
  get why(): string {
    return this._why;
  }

  /** When it moved to this rung (clock ms). */
  get since(): number {
    return this._since;
  }

  /** Which way a TLS connection to the server goes now: direct ('tcp') or through the proxy. */
  get stream(): StreamRung {
    return this._stream;
  }

  /** Starts on UDP (or on the stream rung when UDP is off) and says so through switchTo. */
  start(): void {
    if (this.o.udp === false) {
      this.move(this._stream, 'UDP is off (proto tcp)');
      return;
    }
    this.starting = true;
    this.move('udp', `starting on UDP to ${this.o.udpTarget}`);
    this.expectSince = this.now();
    this.probe();
  }

  /** An authentic datagram arrived on that path. Only UDP ones count: TCP says nothing about UDP. */
  onAuthenticRx(path: 'udp' | 'tcp'): void {
    if (path !== 'udp') return;
    const now = this.now();
    if (this._rung !== 'udp') {
      // a datagram from before the fall proves nothing: only one after our probe
      if (this.firstRetryAt === undefined) return;
      this.climbedAt = now;
      this.move('udp', 'UDP answered again');
    }
    this.starting = false;
    this.lastRx = now;
    this.expectSince = undefined;
    this.unanswered = 0;
  }

  /** We sent over UDP (the daemon saw the data plane's tx counter move): a reply is now owed. */
  onUdpTx(): void {
    if (this._rung === 'udp') this.expectSince ??= this.now();
  }

  /** The TLS connection to the server went down. With a proxy, the stream rung changes way. */
  onTcpDown(reason: string): void {
    const proxy = this.o.httpProxy;
    const lost = this._stream === 'tcp' ? `TCP to ${this.o.tcpTarget}` : `the HTTP proxy ${proxy} to ${this.o.tcpTarget}`;
    if (proxy === undefined) {
      if (this._rung !== 'udp') this._why = `${lost} lost (${reason}); reconnecting`;
      return;
    }
    this._stream = this._stream === 'tcp' ? 'http-proxy' : 'tcp';
    const next = this._stream === 'tcp' ? `TCP to ${this.o.tcpTarget}` : `the HTTP proxy ${proxy}`;
    if (this._rung !== 'udp') this.move(this._stream, `${lost} lost (${reason}); trying ${next}`);
  }

  tick(): void {
    const now = this.now();
    if (this._rung === 'udp') this.tickUdp(now);
    else if (this.o.udp !== false && now >= this.nextRetry) this.retryUdp(now);
  }

  private tickUdp(now: number): void {
    if (this.expectSince === undefined) {
      if (now - this.lastRx < this.t.idleMs) return;
      this.expectSince = now; // quiet for long: check the path is still there
    }
    const waited = now - this.expectSince;
    const limit = this.starting ? this.t.firstReplyMs : this.t.silenceMs;
    if (waited >= limit && this.unanswered >= 2) {
      this.fall(now, waited);
      return;
    }
    if (waited >= this.t.probeAfterMs && now - this.lastProbe >= this.t.probeAfterMs) this.probe();
  }

  private fall(now: number, waited: number): void {
    const s = (waited / 1000).toFixed(1);
    this.move(this._stream, `no UDP reply from ${this.o.udpTarget} ${this.starting ? `within ${s} s of starting` : `for ${s} s`}`);
    this.retries = 0;
    this.firstRetryAt = undefined;
    const flapping = now - this.climbedAt < this.t.flapMs;
    this.nextRetry = now + (flapping ? this.t.retryMaxMs : this.t.retryMs);
    if (flapping) this.retries = this.t.retryBackoffAfter;
  }

  private retryUdp(now: number): void {
    this.firstRetryAt ??= now;
    this.retries++;
    this.nextRetry = now + (this.retries >= this.t.retryBackoffAfter ? this.t.retryMaxMs : this.t.retryMs);
    this.o.probeUdp();
  }

  private probe(): void {
    this.lastProbe = this.now();
    this.unanswered++;
    this.o.probeUdp();
  }

  private move(rung: Rung, why: string): void {
    this._rung = rung;
    this._why = why;
    this._since = this.now();
    this.o.switchTo(rung, why);
  }

  private now(): number {
    return this.o.clock.now();
  }
}
