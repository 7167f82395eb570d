// Static-key mode's keys (docs/PROTOCOL.md §6.2). Both ends hold the same
// 2048-bit secret (insel genkey --secret) and nothing else, so each run
// picks a random session id, sent as the channel id of its datagrams, and
// derives its send chain from the secret and that id. Each epoch's counter
// starts at a random point below 2^48: a nonce repeats only if a later run
// draws the same 32-bit id AND overlapping counter ranges.
import { hkdfSync, randomInt } from 'node:crypto';
import { KeyChain } from '../../secsock/keys.js';

const HASH = 'sha256';
const SALT = 'insel/v1 static';

export function newSessionId(): number {
  return randomInt(1, 0xffffffff);
}

export function randomCounterStart(): number {
  return randomInt(0, 2 ** 47) * 2; // randomInt's range is below 2^48; even so the low bit stays free
}

/** The send chain of the end whose session id is `sid` (its peer derives the same to receive). */
export function staticChain(secret: Buffer, sid: number): KeyChain {
  const info = Buffer.alloc(4 + 5);
  info.writeUInt32BE(sid >>> 0, 0);
  info.write('chain', 4, 'latin1');
  return new KeyChain(HASH, Buffer.from(hkdfSync(HASH, secret, SALT, info, 32)));
}
