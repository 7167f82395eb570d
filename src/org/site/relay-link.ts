// The middle of a relay at the user's site: the user's stream joined to the
// stream towards the service's site. A reset on one side reaches the other
// with its code and reason, so a cut at the service's site (a revocation, a
// reload) reaches the user as a cut with the reason, and the user giving up
// frees the far end at once.
import { MuxCode, type MuxStream } from '../../mux/index.js';
import { splice, type Splice } from '../../forward/splice.js';

export function relayStreams(user: MuxStream, far: MuxStream): Splice {
  far.once('reset', (code: number, reason: string) => user.reset(code === MuxCode.CUT ? MuxCode.CUT : MuxCode.CANCEL, reason));
  user.once('reset', (_code: number, reason: string) => far.reset(MuxCode.CANCEL, reason));
  const link = splice(user, far);
  return {
    done: link.done,
    cut(reason) {
      user.reset(MuxCode.CUT, reason);
      far.reset(MuxCode.CANCEL, reason);
      link.cut(reason);
    },
  };
}
