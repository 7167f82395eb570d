// The connection phase's choice, without I/O: the client offers lists, the
// server picks by its own preference order. Unknown names from a peer are
// ignored (a newer peer may know more); broken ones are refused by name.
import { brokenAlgorithmError, type Aead, type Compression, type Hash, type Mode } from './algorithms.js';
import { NegotiationError } from './errors.js';

export interface Preferences {
  aeads: readonly Aead[];
  hashes: readonly Hash[];
  compressions: readonly Compression[];
  modes: readonly Mode[];
}

/** What a client sends; lists are as received, so possibly foreign names. */
export interface Offer {
  aeads: readonly string[];
  hashes: readonly string[];
  compressions: readonly string[];
  modes: readonly string[];
}

export interface Choice {
  aead: Aead;
  hash: Hash;
  compression: Compression;
  mode: Mode;
}

const DIMENSIONS = [
  ['aeads', 'aead'],
  ['hashes', 'hash'],
  ['compressions', 'compression'],
  ['modes', 'mode'],
] as const;

export function negotiate(offer: Offer, server: Preferences, peer = 'client'): Choice {
  for (const [list] of DIMENSIONS) {
    for (const name of offer[list]) {
      const broken = brokenAlgorithmError(name, `${peer} offered ${list}`);
      if (broken) throw broken;
    }
  }
  const choice: Partial<Record<(typeof DIMENSIONS)[number][1], string>> = {};
  const missing: string[] = [];
  for (const [list, key] of DIMENSIONS) {
    const pick = (server[list] as readonly string[]).find((n) => offer[list].includes(n));
    if (pick === undefined) missing.push(`${list}: ${peer} offered [${offer[list].join(', ')}], server allows [${server[list].join(', ')}]`);
    else choice[key] = pick;
  }
  if (missing.length > 0) {
    throw new NegotiationError('INSEL_NO_COMMON_CHOICE', `no common choice with ${peer}: ${missing.join('; ')}`, { peer });
  }
  return choice as unknown as Choice;
}
