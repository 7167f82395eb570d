// A static-key peer is known only by the session id in its datagrams. An
// unknown id is learned only from a datagram that opens under the keys that
// id derives: anyone can send an id, only a holder of the secret can make
// it open. The peer may be mid-life (we restarted, it did not), so its epoch
// is tried as sent and up to MAX_WRAPS times 256 further.
import { Opener } from '../../secsock/aead.js';
import type { Aead } from '../../secsock/algorithms.js';
import { DGRAM_HEADER_SIZE } from '../../secsock/constants.js';
import { decodeHeader, type DatagramHeader } from '../../secsock/datagram.js';
import { staticChain } from './static-keys.js';

const MAX_WRAPS = 4;

export interface LearnedPeer {
  sid: number;
  /** Epochs of its chain already behind: PeerKeys.install's recvSkip. */
  epoch: number;
}

export function learnStaticPeer(secret: Buffer, aead: Aead, datagram: Buffer): LearnedPeer | undefined {
  let h: DatagramHeader;
  try {
    h = decodeHeader(datagram, { type: 0, epoch: 0, channelId: 0, counter: 0 });
  } catch {
    return undefined;
  }
  if (h.channelId === 0) return undefined;
  const chain = staticChain(secret, h.channelId);
  const copy = Buffer.allocUnsafe(datagram.length);
  for (let seq = 0; seq < 256 * MAX_WRAPS; seq++) {
    const keys = chain.next();
    if ((seq & 0xff) === h.epoch) {
      datagram.copy(copy);
      const opener = new Opener(aead, 'private', keys);
      const ok = opener.open(copy, DGRAM_HEADER_SIZE, h.counter) !== undefined;
      opener.free();
      if (ok) {
        keys.key.fill(0);
        return { sid: h.channelId, epoch: seq };
      }
    }
    keys.key.fill(0);
    keys.iv.fill(0);
  }
  return undefined;
}
