// Datagram packetization-layer path-MTU discovery (RFC 8899) for one peer's
// UDP path, without sockets or timers: the daemon injects `sendProbe` (a
// PROBE control datagram padded to the size) and a clock, feeds PROBE_ACKs to
// onAck(), and calls tick() from its ticker every 100-250 ms (probe timers
// are checked there, so they fire up to one tick late).
//
// Sizes are UDP payload sizes of our datagrams; the TUN MTU is plpmtu − 32.
// States as RFC 8899 §5.2: DISABLED → BASE (confirm BASE_PLPMTU) → SEARCHING
// → SEARCH_COMPLETE, which confirms the PLPMTU every `confirmMs` (a black
// hole: MAX_PROBES unanswered → BASE with the PLPMTU cut to BASE_PLPMTU) and
// searches again after PMTU_RAISE_TIMER. BASE unconfirmed → ERROR (PLPMTU =
// MIN_PLPMTU, BASE retried every `confirmMs`). No ICMP is used at all.
//
// Search: MAX_PLPMTU first (on most paths the local MTU is the path MTU, so
// one probe ends it), then a binary search between the largest acknowledged
// and the smallest failed size, to the byte. A size fails after MAX_PROBES
// unanswered probes (robust to isolated loss, §5.1.2).
import type { Clock } from '../../secsock/clock.js';
import { InselError } from '../../errors.js';
import { MAX_PROBE_SIZE, MIN_PROBE_SIZE } from './probe.js';

// ---- Specification (RFC 8899 §5.1) -----------------------------------------

export const MAX_PROBES = 3;
export const PMTU_RAISE_MS = 600_000;
/** UDP payload of a 1280-byte IPv6 packet (the IPv6 minimum MTU): safe on any IPv6 path, and on IPv4 paths of 1260 and up. */
export const BASE_PLPMTU = 1280 - 40 - 8;

// ---- Implementation --------------------------------------------------------

/**
 * RFC 8899 asks ≥ 1 s (MUST) and > 15 s (SHOULD). Our PROBE_ACK is sent at
 * once by the peer's control path, so 1 s is already many RTTs; 15 s would
 * make a search of ~10 sizes take minutes and a black hole last ~50 s.
 */
export const PROBE_TIMER_MS = 1000;
/** CONFIRMATION_TIMER: a black hole is found within confirmMs + MAX_PROBES × probeTimerMs (≈ 13 s). */
export const CONFIRMATION_MS = 10_000;

export type PmtuState = 'disabled' | 'base' | 'searching' | 'search_complete' | 'error';

export interface PmtuOptions {
  clock: Clock;
  /** Send a PROBE with this id, padded so the datagram is `size` bytes, over UDP (never the TCP rung). */
  sendProbe(id: number, size: number): void;
  /** The PLPMTU changed: set the TUN MTU to size − DATAGRAM_OVERHEAD and the MSS clamp from it. */
  onChange?(size: number, why: string): void;
  /** MAX_PLPMTU: the largest datagram the local interface sends, e.g. datagramSizeFor(ifaceMtu, family). */
  max: number;
  /** BASE_PLPMTU (default 1232); lowered to `max` if larger. */
  base?: number;
  /** MIN_PLPMTU, used in ERROR (default: base). */
  min?: number;
  maxProbes?: number;
  probeTimerMs?: number;
  confirmMs?: number;
  raiseMs?: number;
}

/** The UDP payload of a full-sized packet on a link of this MTU. */
export function datagramSizeFor(linkMtu: number, family: 4 | 6): number {
  return linkMtu - (family === 4 ? 20 : 40) - 8;
}

interface Probing {
  size: number;
  /** probes of this size that went unanswered so far */
  failed: number;
  deadline: number;
}

export class Pmtu {
  private readonly o: Required<Omit<PmtuOptions, 'onChange'>> & Pick<PmtuOptions, 'onChange'>;
  private _state: PmtuState = 'disabled';
  private _plpmtu: number;
  private probing: Probing | undefined;
  /** id → size of the probes that may still be answered: only the current size's, at most maxProbes. */
  private readonly outstanding = new Map<number, number>();
  private nextId = 1;
  /** search bounds: largest size acknowledged, largest size not known to fail */
  private lo = 0;
  private hi = 0;
  private triedMax = false;
  /** SEARCH_COMPLETE: next confirmation; ERROR: next BASE retry */
  private confirmAt = 0;
  private raiseAt = 0;

  constructor(options: PmtuOptions) {
    const max = options.max;
    if (!Number.isInteger(max) || max < MIN_PROBE_SIZE || max > MAX_PROBE_SIZE) {
      throw new InselError('INSEL_PMTU_OPTIONS', `PMTU: the largest datagram must be an integer in ${MIN_PROBE_SIZE}-${MAX_PROBE_SIZE}, not ${max}`, { field: 'max' });
    }
    const base = Math.min(options.base ?? BASE_PLPMTU, max);
    const min = Math.min(options.min ?? base, base);
    if (!Number.isInteger(min) || min < MIN_PROBE_SIZE) {
      throw new InselError('INSEL_PMTU_OPTIONS', `PMTU: the smallest datagram must be an integer of at least ${MIN_PROBE_SIZE}, not ${min}`, { field: 'min' });
    }
    this.o = {
      clock: options.clock,
      sendProbe: options.sendProbe,
      onChange: options.onChange,
      max,
      base,
      min,
      maxProbes: options.maxProbes ?? MAX_PROBES,
      probeTimerMs: options.probeTimerMs ?? PROBE_TIMER_MS,
      confirmMs: options.confirmMs ?? CONFIRMATION_MS,
      raiseMs: options.raiseMs ?? PMTU_RAISE_MS,
    };
    this._plpmtu = base;
  }

  get state(): PmtuState {
    return this._state;
  }

  /** The largest datagram known to cross the path (BASE_PLPMTU until something larger is confirmed). */
  get plpmtu(): number {
    return this._plpmtu;
  }

  /** DISABLED → BASE: the UDP path is up (keys installed, UDP rung). Sends the first probe now. */
  start(): void {
    if (this._state === 'disabled') this.enterBase('starting on the base size');
  }

  /** → DISABLED (UDP not in use, or closing): no probes; start() searches again from BASE. */
  stop(): void {
    this._state = 'disabled';
    this.probing = undefined;
    this.outstanding.clear();
  }

  /**
   * A PROBE_ACK arrived. Counted only for a probe still outstanding, of the size
   * it names: a duplicate, late, forged or unknown ack changes nothing.
   * Returns whether it was accepted.
   */
  onAck(id: number, size: number): boolean {
    if (this.outstanding.get(id) !== size) return false;
    this.outstanding.clear();
    this.probing = undefined;
    this.acked(size);
    return true;
  }

  /** Fires due timers: a probe unanswered for probeTimerMs, a confirmation, a raise. */
  tick(): void {
    const now = this.o.clock.now();
    if (this.probing !== undefined) {
      if (now >= this.probing.deadline) this.unanswered(this.probing);
      return;
    }
    if (this._state === 'search_complete') {
      if (now >= this.raiseAt && this._plpmtu < this.o.max) this.search();
      else if (now >= this.confirmAt) this.probe(this._plpmtu);
    } else if (this._state === 'error' && now >= this.confirmAt) {
      this.probe(this.o.base);
    }
  }

  private acked(size: number): void {
    switch (this._state) {
      case 'base':
      case 'error':
        this.setPlpmtu(size, `the path carries ${size}-byte datagrams`);
        this.search();
        return;
      case 'searching':
        this.lo = size;
        this.setPlpmtu(size, `the path carries ${size}-byte datagrams`);
        this.next();
        return;
      case 'search_complete':
        this.confirmAt = this.o.clock.now() + this.o.confirmMs;
        return;
      case 'disabled':
        return;
    }
  }

  private unanswered(p: Probing): void {
    p.failed++;
    if (p.failed < this.o.maxProbes) {
      this.attempt(p);
      return;
    }
    this.outstanding.clear();
    this.probing = undefined;
    const size = p.size;
    switch (this._state) {
      case 'base':
        this._state = 'error';
        this.confirmAt = this.o.clock.now() + this.o.confirmMs;
        this.setPlpmtu(this.o.min, `no answer to ${this.o.maxProbes} probes of the base size ${size}`);
        return;
      case 'error':
        this.confirmAt = this.o.clock.now() + this.o.confirmMs;
        return;
      case 'searching':
        this.hi = size - 1;
        this.next();
        return;
      case 'search_complete':
        // a black hole: the confirmed size stopped working (and no ICMP said so)
        this.enterBase(`no answer to ${this.o.maxProbes} probes of the current size ${size}`);
        return;
      case 'disabled':
        return;
    }
  }

  private enterBase(why: string): void {
    this._state = 'base';
    this.setPlpmtu(this.o.base, why);
    this.probe(this.o.base);
  }

  private search(): void {
    this._state = 'searching';
    this.lo = this._plpmtu;
    this.hi = this.o.max;
    this.triedMax = false;
    this.next();
  }

  private next(): void {
    if (this.lo >= this.hi) {
      const now = this.o.clock.now();
      this._state = 'search_complete';
      this.confirmAt = now + this.o.confirmMs;
      this.raiseAt = now + this.o.raiseMs;
      return;
    }
    const size = this.triedMax ? this.lo + Math.ceil((this.hi - this.lo) / 2) : this.hi;
    this.triedMax = true;
    this.probe(size);
  }

  private probe(size: number): void {
    this.outstanding.clear();
    const p: Probing = { size, failed: 0, deadline: 0 };
    this.probing = p;
    this.attempt(p);
  }

  /** One probe of p.size. State is final before sendProbe, which may answer synchronously. */
  private attempt(p: Probing): void {
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0;
    this.outstanding.set(id, p.size);
    p.deadline = this.o.clock.now() + this.o.probeTimerMs;
    this.o.sendProbe(id, p.size);
  }

  private setPlpmtu(size: number, why: string): void {
    if (size === this._plpmtu) return;
    this._plpmtu = size;
    this.o.onChange?.(size, why);
  }
}
