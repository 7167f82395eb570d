// Resolve, then ask the policy: the gateway connects to exactly the address
// it checked. A name that does not resolve is reported as unknown only to
// clients that may reach that name at all, so the gateway's DNS is no oracle.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Identity } from '../pki/identity.js';
import type { Action, Policy, Proto } from './policy.js';

export type Verdict =
  | { allow: true; address: string; rule: string }
  | { allow: false; status: number; code: 'INSEL_POLICY_DENIED' | 'INSEL_UNKNOWN_HOST'; reason: string };

export async function authorize(policy: Policy, identity: Identity, action: Action, proto: Proto, host: string, port: number): Promise<Verdict> {
  const name = host.toLowerCase();
  let addresses: string[];
  try {
    addresses = isIP(name) ? [name] : (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);
  } catch (err) {
    const byName = policy.check({ identity, action, proto, host: name, address: '', port });
    if (!byName.allow) return { allow: false, status: 403, code: 'INSEL_POLICY_DENIED', reason: byName.reason };
    const why = (err as NodeJS.ErrnoException).code ?? String(err);
    return { allow: false, status: 502, code: 'INSEL_UNKNOWN_HOST', reason: `unknown host ${host}: the gateway cannot resolve it (${why})` };
  }
  let first: string | undefined;
  for (const address of addresses) {
    const d = policy.check({ identity, action, proto, host: name, address, port });
    if (d.allow) return { allow: true, address, rule: d.rule };
    first ??= d.reason;
  }
  return { allow: false, status: 403, code: 'INSEL_POLICY_DENIED', reason: first ?? `${host} resolved to no address` };
}
