// The call requests of insel/1 at a user's own site gateway (docs/PROTOCOL.md §7.4):
//   GET  /insel/v1/calls                        agent: 200, then one JSON line per invitation
//   POST /insel/v1/call    insel-to: bob@site   200 {"callId","expiresAt"} — HQ rings bob's site
//   POST /insel/v1/answer  insel-call: ID       200 {"callId","from"} if ID rings for this user
// The media of a call is not here: it is a UDP flow to "call:<ID>" (OPEN_SERVICE).
// Refusals carry insel-code and insel-reason like every forward request.
import type { MuxHeaders, MuxStream } from '../../mux/index.js';
import { refuse } from '../../gateway/forward-requests.js';
import { H_TO } from '../../forward/protocol.js';
import type { Identity } from '../../pki/identity.js';
import type { OrgUser } from '../wire/hq-api.js';
import { CallError } from './errors.js';
import type { SiteCalls } from './site-calls.js';

export const PATH_CALLS = '/insel/v1/calls';
export const PATH_CALL = '/insel/v1/call';
export const PATH_ANSWER = '/insel/v1/answer';
/** POST /insel/v1/answer: the call id */
export const H_CALL = 'insel-call';
/** An agent whose client leaves this much unread is closed: invitations are small and few. */
const AGENT_MAX_QUEUED = 64 * 1024;

/** Serves a call request of a verified user session; false if `headers` is not one (for the forward protocol). */
export function callRequest(calls: SiteCalls, identity: Identity, stream: MuxStream, headers: MuxHeaders): boolean {
  const kind = `${headers[':method'] ?? ''} ${headers[':path'] ?? ''}`;
  if (kind !== `GET ${PATH_CALLS}` && kind !== `POST ${PATH_CALL}` && kind !== `POST ${PATH_ANSWER}`) return false;
  stream.on('error', () => undefined);
  if (identity.role !== 'user' || identity.site === undefined) {
    refuse(stream, 403, 'INSEL_CALL_DENIED', `calls are for users of a site; ${identity.role} ${identity.name} has none`);
    return true;
  }
  const user: OrgUser = { name: identity.name, site: identity.site, groups: identity.groups, serial: identity.serial };
  if (kind === `GET ${PATH_CALLS}`) agent(calls, user, stream);
  else if (kind === `POST ${PATH_CALL}`) void invite(calls, user, stream, headers[H_TO] ?? '');
  else answered(calls, user, stream, headers[H_CALL] ?? '');
  return true;
}

function agent(calls: SiteCalls, user: OrgUser, stream: MuxStream): void {
  let remove: () => void;
  try {
    remove = calls.addAgent(user, {
      send: (inv) => {
        if (stream.destroyed) return false;
        stream.write(`${JSON.stringify(inv)}\n`);
        return stream.writableLength <= AGENT_MAX_QUEUED;
      },
      close: (reason) => {
        if (!stream.destroyed) stream.end(`${JSON.stringify({ type: 'closed', reason })}\n`);
      },
    });
  } catch (err) {
    return refusal(stream, err);
  }
  stream.respond({ ':status': '200', 'content-type': 'application/x-ndjson' });
  stream.resume(); // the agent sends nothing; whatever it sends is dropped
  stream.once('close', remove);
}

async function invite(calls: SiteCalls, user: OrgUser, stream: MuxStream, to: string): Promise<void> {
  let r;
  try {
    r = await calls.invite(user, to);
  } catch (err) {
    return refusal(stream, err);
  }
  stream.respond({ ':status': '200', 'content-type': 'application/json' });
  stream.end(JSON.stringify(r));
}

function answered(calls: SiteCalls, user: OrgUser, stream: MuxStream, callId: string): void {
  let r;
  try {
    r = calls.answer(user, callId);
  } catch (err) {
    return refusal(stream, err);
  }
  stream.respond({ ':status': '200', 'content-type': 'application/json' });
  stream.end(JSON.stringify({ callId, from: r.from }));
}

/** A CallError keeps its code; HQ's refusals keep theirs (OrgRefusedError) or read as HQ unavailable. */
function refusal(stream: MuxStream, err: unknown): void {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : 'INSEL_CALL_FAILED';
  const status = err instanceof CallError && err.code === 'INSEL_CALL_LIMIT' ? 429 : code === 'INSEL_HQ_UNAVAILABLE' ? 503 : 403;
  refuse(stream, status, code, String(e.message ?? err));
}
