// Sliding anti-replay window, RFC 6479: a ring of 32-bit words; moving the
// window forward clears whole words, so a check costs O(1) and allocates
// nothing. Counters are JS numbers (exact below 2^53; see REKEY_AFTER_PACKETS).
// `check` only looks; `mark` is called after the datagram authenticated, so a
// forged packet can never move the window.
import { REPLAY_WINDOW_WORDS } from './constants.js';

const BITS = 32;
export const REPLAY_WINDOW_SIZE = (REPLAY_WINDOW_WORDS - 1) * BITS;

export type ReplayVerdict = 'ok' | 'replay' | 'too_old';

export class ReplayWindow {
  private readonly ring = new Uint32Array(REPLAY_WINDOW_WORDS);
  private last = 0;

  reset(): void {
    this.ring.fill(0);
    this.last = 0;
  }

  check(counter: number): ReplayVerdict {
    if (counter > this.last) return 'ok';
    if (counter + REPLAY_WINDOW_SIZE < this.last) return 'too_old';
    const word = Math.floor(counter / BITS) % REPLAY_WINDOW_WORDS;
    return (this.ring[word]! >>> counter % BITS) & 1 ? 'replay' : 'ok';
  }

  mark(counter: number): void {
    const index = Math.floor(counter / BITS);
    if (counter > this.last) {
      const current = Math.floor(this.last / BITS);
      const diff = Math.min(index - current, REPLAY_WINDOW_WORDS);
      for (let i = 1; i <= diff; i++) this.ring[(current + i) % REPLAY_WINDOW_WORDS] = 0;
      this.last = counter;
    }
    this.ring[index % REPLAY_WINDOW_WORDS]! |= 1 << counter % BITS;
  }
}
