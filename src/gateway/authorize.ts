// The policy first, on the name where the rules decide by name; then DNS,
// then the policy on each address: the gateway connects to exactly the
// address it checked. A client whose rules could not allow this name at any
// address is refused without a lookup, so it can neither make the gateway
// query names nor tie up its resolver. Lookups in flight are capped per
// identity. A name that does not resolve is reported as unknown only to
// clients that may reach that name at all, so the gateway's DNS is no oracle.
import { isIP } from 'node:net';
import type { Identity } from '../pki/identity.js';
import type { IdentityLimits } from './limits.js';
import type { AccessRequest, Action, Policy, Proto } from '../policy/policy.js';
import { ResolveError, type NameResolver } from './resolve.js';

export type Verdict =
  | { allow: true; address: string; rule: string }
  | { allow: false; status: number; code: 'INSEL_POLICY_DENIED' | 'INSEL_UNKNOWN_HOST' | 'INSEL_LIMIT'; reason: string };

export interface AuthorizeContext {
  policy: Policy;
  resolver: NameResolver;
  limits: IdentityLimits;
}

export async function authorize(ctx: AuthorizeContext, identity: Identity, action: Action, proto: Proto, host: string, port: number): Promise<Verdict> {
  const { policy } = ctx;
  const name = host.toLowerCase();
  const denied = (reason: string): Verdict => ({ allow: false, status: 403, code: 'INSEL_POLICY_DENIED', reason });
  if (isIP(name) !== 0) return decide(policy, { identity, action, proto, host: name, port }, [name]);
  const byName = policy.check({ identity, action, proto, host: name, address: '', port });
  if (!byName.allow && !policy.matchesByAddress({ identity, action, proto, port })) return denied(byName.reason);
  const slot = ctx.limits.take(identity, 'lookups');
  if (!slot.ok) return { allow: false, status: slot.status, code: slot.code, reason: slot.reason };
  let addresses: string[];
  try {
    addresses = await ctx.resolver.resolve(name.endsWith('.') ? name.slice(0, -1) : name);
  } catch (err) {
    if (!byName.allow) return denied(byName.reason);
    const timedOut = err instanceof ResolveError && err.why === 'ETIMEOUT';
    const reason = err instanceof ResolveError ? err.message : `unknown host ${host}: the gateway cannot resolve it (${String(err)})`;
    return { allow: false, status: timedOut ? 504 : 502, code: 'INSEL_UNKNOWN_HOST', reason };
  } finally {
    slot.release();
  }
  return decide(policy, { identity, action, proto, host: name, port }, addresses);
}

/** The first address the policy allows, or the first refusal. */
function decide(policy: Policy, req: Omit<AccessRequest, 'address'>, addresses: string[]): Verdict {
  let first: string | undefined;
  for (const address of addresses) {
    const d = policy.check({ ...req, address });
    if (d.allow) return { allow: true, address, rule: d.rule };
    first ??= d.reason;
  }
  return { allow: false, status: 403, code: 'INSEL_POLICY_DENIED', reason: first ?? `${req.host} resolved to no address` };
}
