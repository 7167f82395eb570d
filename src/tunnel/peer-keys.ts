// One tunnel peer's keys in the data plane: the TypeScript side of
// PROTOCOL §4's schedule. The plane seals and opens; this decides when to
// move on. Send: a new epoch after REKEY_PACKETS datagrams or rekeyAfterMs.
// Receive: the plane holds prev/cur/next; when it promotes next (the peer
// rekeyed), the following epoch's keys go in as the new next, and the old
// epoch is dropped PREV_KEEP_MS later (late, reordered datagrams).
// Key bytes are wiped here once the plane has its own copy.
import type { KeyChain, EpochKeys } from '../secsock/keys.js';

/** What this needs of the data plane (src/tun/plane.ts). */
export interface KeySink {
  setSendKey(peerId: number, epoch: number, key: Buffer, iv: Buffer, counterStart: number): void;
  setRecvKey(peerId: number, slot: 'prev' | 'cur' | 'next', epoch: number, key: Buffer | null, iv: Buffer | null): void;
}

/** Datagrams under one send key (PROTOCOL §4; far below AES-GCM's limits). */
export const REKEY_PACKETS = 2 ** 28;
export const REKEY_MS = 120_000;
export const PREV_KEEP_MS = 10_000;

export interface PeerKeysOptions {
  /** Where each epoch's send counter starts: 0 in CA mode, random in static-key mode (PROTOCOL §6.2). */
  counterStart?: () => number;
  /** 0: no time limit (static-key mode, where epochs advance by packets only). */
  rekeyAfterMs?: number;
  rekeyAfterPackets?: number;
}

export class PeerKeys {
  private sendEpochAt = 0;
  private sendCounterStart = 0;
  private dropPrevAt = 0;
  private readonly counterStart: () => number;
  private readonly rekeyAfterMs: number;
  private readonly rekeyAfterPackets: number;

  constructor(
    private readonly sink: KeySink,
    private readonly peerId: number,
    private readonly send: KeyChain,
    private readonly recv: KeyChain,
    o: PeerKeysOptions = {},
  ) {
    this.counterStart = o.counterStart ?? (() => 0);
    this.rekeyAfterMs = o.rekeyAfterMs ?? REKEY_MS;
    this.rekeyAfterPackets = o.rekeyAfterPackets ?? REKEY_PACKETS;
  }

  /** The first send epoch, and receive cur + next. `recvEpochs` skips the receive chain ahead (a static peer met mid-life). */
  install(now: number, recvSkip = 0): void {
    this.nextSend(now);
    for (let i = 0; i < recvSkip; i++) wipe(this.recv.next());
    this.putRecv('cur', this.recv.next());
    this.putRecv('next', this.recv.next());
  }

  /** The plane promoted next to cur: the epoch after it becomes next; the old cur (now prev) lives PREV_KEEP_MS more. */
  promoted(now: number): void {
    this.putRecv('next', this.recv.next());
    this.dropPrevAt = now + PREV_KEEP_MS;
  }

  /** Called on the daemon's ticker with the plane's send counter; rekeys when a limit is reached. */
  tick(now: number, sendCounter: number): void {
    if (this.dropPrevAt !== 0 && now >= this.dropPrevAt) {
      this.dropPrevAt = 0;
      this.sink.setRecvKey(this.peerId, 'prev', 0, null, null);
    }
    const used = sendCounter - this.sendCounterStart;
    if (used >= this.rekeyAfterPackets || (this.rekeyAfterMs > 0 && now - this.sendEpochAt >= this.rekeyAfterMs)) this.nextSend(now);
  }

  /** Moves the send direction to the next epoch now. */
  rekey(now: number): void {
    this.nextSend(now);
  }

  private nextSend(now: number): void {
    const k = this.send.next();
    this.sendCounterStart = this.counterStart();
    this.sink.setSendKey(this.peerId, k.epoch, k.key, k.iv, this.sendCounterStart);
    this.sendEpochAt = now;
    wipe(k);
  }

  private putRecv(slot: 'cur' | 'next', k: EpochKeys): void {
    this.sink.setRecvKey(this.peerId, slot, k.epoch, k.key, k.iv);
    wipe(k);
  }
}

function wipe(k: EpochKeys): void {
  k.key.fill(0);
  k.iv.fill(0);
}
