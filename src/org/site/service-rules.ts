// The site's own rules for organization services, on top of HQ's groups:
// [[allow_service]] tables in site.toml. At the user's site they decide which
// of its users may ask for which remote service; at the service's site which
// users (of any site) may reach its services. The `who` selectors are the
// gateway policy's (policy/policy.ts): "user:alice", "group:eng",
// "site:branch", "role:user", "*". No rule, no relay (default deny).
//
//   [[allow_service]]
//   name = "engineers to the branch"
//   who = ["group:eng"]
//   services = ["web@branch", "*@hq", "ftp@*", "*"]
import { z } from 'zod';
import { configError, zodConfigError } from '../../config/errors.js';
import { quote } from '../../errors.js';
import { isValidName, scopedName, type Identity } from '../../pki/identity.js';
import { parseSelector, selects, type Decision, type Selector } from '../../policy/policy.js';

export interface ServiceRuleConfig {
  name?: string;
  who: string[];
  services: string[];
}

const SERVICE_FORM = 'use "svc@site", "*@site", "svc@*" or "*"';

const ruleSchema = z
  .object({
    name: z.string({ error: 'must be a string' }).optional(),
    who: z.array(z.string({ error: 'each entry must be a string, e.g. "group:eng"' }), { error: 'must be a list, e.g. who = ["group:eng"]' }).min(1, { error: 'is empty: list at least one, e.g. who = ["group:eng"]' }),
    services: z.array(z.string({ error: `each entry must be a string: ${SERVICE_FORM}` }), { error: 'must be a list, e.g. services = ["web@branch"]' }).min(1, { error: 'is empty: list at least one, e.g. services = ["web@branch"]' }),
  })
  .strict();

interface Rule {
  name: string;
  who: Selector[];
  /** [service or '*', site or '*'] */
  services: [string, string][];
}

/** "svc@site" split, or undefined if either part is not a valid name. */
export function parseServiceName(text: string): { service: string; site: string } | undefined {
  const at = text.indexOf('@');
  if (at < 0) return undefined;
  const service = text.slice(0, at);
  const site = text.slice(at + 1);
  return isValidName(service) && isValidName(site) ? { service, site } : undefined;
}

function parseEntry(text: string, fail: (problem: string) => never): [string, string] {
  if (text === '*') return ['*', '*'];
  const at = text.indexOf('@');
  const [svc, site] = at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + 1)];
  const ok = (part: string) => part === '*' || isValidName(part);
  if (at < 0 || !ok(svc) || !ok(site)) fail(`${quote(text)} is not a service: ${SERVICE_FORM}`);
  return [svc, site];
}

export class ServiceRules {
  private constructor(private readonly rules: readonly Rule[]) {}

  get size(): number {
    return this.rules.length;
  }

  /** Compiles [[allow_service]] tables; a bad entry throws ConfigError naming allow_service[i].key[j]. */
  static fromRules(rules: readonly unknown[], where: string): ServiceRules {
    const input = { allow_service: rules };
    const parsed = z.object({ allow_service: z.array(ruleSchema, { error: 'must be a list of [[allow_service]] tables' }) }).safeParse(input);
    if (!parsed.success) throw zodConfigError(where, parsed.error.issues, input, { allow_service: 'a rule has keys name, who, services' });
    return new ServiceRules(
      parsed.data.allow_service.map((r, i): Rule => {
        const failAt = (key: string, j: number) => (problem: string): never => {
          throw configError(where, ['allow_service', i, key, j], problem);
        };
        return {
          name: r.name ?? `allow_service[${i}]`,
          who: r.who.map((w, j) => parseSelector(w, failAt('who', j))),
          services: r.services.map((s, j) => parseEntry(s, failAt('services', j))),
        };
      }),
    );
  }

  /** Whether `identity` may use `service` at `site`; a refusal says what to ask for. Never throws. */
  check(identity: Identity, service: string, site: string): Decision {
    for (const rule of this.rules) {
      if (!rule.who.some((s) => selects(s, identity))) continue;
      if (rule.services.some(([sv, st]) => (sv === '*' || sv === service) && (st === '*' || st === site))) return { allow: true, rule: rule.name };
    }
    const groups = identity.groups.length > 0 ? ` (groups ${identity.groups.join(', ')})` : '';
    return { allow: false, reason: `no [[allow_service]] rule of this site lets ${scopedName(identity)}${identity.site === undefined ? '' : ` of site ${identity.site}`}${groups} use ${service}@${site}; ask the site's admin to add one to site.toml` };
  }
}
