// The middle of a relay at the user's site: the user's stream joined to the
// stream towards the service's site. A reset on one side reaches the other
// with its code and reason, so a cut at the service's site (a revocation, a
// reload) reaches the user as a cut with the reason, and the user giving up
// frees the far end at once.
import { logDenied, type ConnFacts } from '../../gateway/conn-log.js';
import { refuse } from '../../gateway/forward-requests.js';
import { GatewayRefusedError, type PendingStream } from '../../forward/session.js';
import { MuxCode, type MuxHeaders, type MuxStream } from '../../mux/index.js';
import { splice, type Splice } from '../../forward/splice.js';
import type { SiteContext } from './context.js';

/** Refuses a relay request with its code and reason, and logs it. */
export type Deny = (status: number, code: string, reason: string) => void;

export function denier(site: SiteContext, stream: MuxStream, facts: ConnFacts): Deny {
  return (status, code, reason) => {
    logDenied(site.log, facts, code, reason);
    refuse(stream, status, code, reason);
  };
}

/** The far side's 200 headers, or undefined after passing its refusal on (reason prefixed with `who`). */
export async function answerOf(pending: PendingStream, who: string, deny: Deny): Promise<MuxHeaders | undefined> {
  try {
    return await pending.answer;
  } catch (err) {
    if (err instanceof GatewayRefusedError) return void deny(err.refusal.status, err.refusal.code, `${who}: ${err.refusal.reason}`);
    return void deny(502, 'INSEL_ORG_SITE_UNREACHABLE', `${who}: ${(err as Error).message}`);
  }
}

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
