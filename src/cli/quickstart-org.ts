// An organization made of real `insel` processes: HQ (`insel hq init|run`),
// site gateways (`insel hq site add` → `insel site enroll` → `insel site
// run`) and users (`insel site user add` → `insel login`), each where its
// plan puts it (loopback, or a network namespace of the org lab). The
// quickstart, the org end-to-end tests and the org bench all build their
// organization with it, so they exercise exactly the commands a user types.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InselProc, inselOk, runInsel, startInsel, waitTcp, waitUntil, type RunResult, type Where } from './quickstart-procs.js';

export interface ServicePlan {
  name: string;
  proto: 'tcp' | 'udp';
  host: string;
  port: number;
  groups: string[];
}

export interface SitePlan {
  name: string;
  /** the gateway's TLS listener, host:port */
  listen: string;
  /** what other sites and its users dial, host:port */
  public: string;
  /** SecSockets UDP port (UDP services, calls), host:port */
  udpListen?: string;
  /** the groups HQ lets this site grant its users */
  groups: string[];
  services: ServicePlan[];
  where?: Where;
  /** the HQ this site dials, when not the plan's (two HQs on one database) */
  hq?: string;
}

export interface OrgPlan {
  /** every HQ, site and user directory goes below it */
  dir: string;
  org: string;
  /** HQ's TLS listener and the address sites dial */
  hq: { listen: string; dial: string; database?: string; where?: Where };
  sites: SitePlan[];
}

/** An enrollment code in a command's output: insel-<id>-<secret>-<pin> (base32). */
export const CODE_RE = /\binsel-[A-Za-z2-7]{16}-[A-Za-z2-7]{32}-[A-Za-z2-7]{12}\b/;

export function codeIn(output: string, what: string): string {
  const m = CODE_RE.exec(output);
  if (m === null) throw new Error(`${what} printed no enrollment code:\n${output}`);
  return m[0];
}

const hostPort = (hp: string): [string, number] => {
  const i = hp.lastIndexOf(':');
  return [hp.slice(0, i).replace(/^\[|\]$/g, ''), Number(hp.slice(i + 1))];
};

/** `key = value` at the top level of a TOML file: replaced where it is, else inserted before the first table. */
export function setTomlKey(file: string, key: string, value: string): void {
  const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n') : [];
  const line = `${key} = ${value}`;
  const firstTable = lines.findIndex((l) => /^\s*\[/.test(l));
  const top = firstTable === -1 ? lines.length : firstTable;
  const at = lines.slice(0, top).findIndex((l) => new RegExp(`^\\s*${key}\\s*=`).test(l));
  if (at !== -1) lines[at] = line;
  else lines.splice(top, 0, line);
  writeFileSync(file, lines.join('\n'));
}

const tomlList = (xs: readonly string[]) => `[${xs.map((x) => JSON.stringify(x)).join(', ')}]`;

/** A site's site.toml: where it listens, what it publishes, and a local rule ([[allow_service]]) that leaves the decision to HQ's groups. */
export function siteToml(plan: SitePlan, hqDial: string): string {
  const lines = [
    `name = ${JSON.stringify(plan.name)}`,
    `hq = ${JSON.stringify(plan.hq ?? hqDial)}`,
    `listen = ${JSON.stringify(plan.listen)}`,
    `public = ${JSON.stringify(plan.public)}`,
    ...(plan.udpListen === undefined ? [] : [`udp_listen = ${JSON.stringify(plan.udpListen)}`]),
    'profile = "identity"',
    '',
  ];
  for (const s of plan.services) {
    lines.push('[[service]]', `name = ${JSON.stringify(s.name)}`, `proto = ${JSON.stringify(s.proto)}`, `host = ${JSON.stringify(s.host)}`, `port = ${s.port}`, `groups = ${tomlList(s.groups)}`, '');
  }
  lines.push('[[allow_service]]', 'name = "the organization decides (HQ groups)"', 'who = ["*"]', 'services = ["*"]', '');
  return lines.join('\n');
}

/** `CMD --profile P ARGS…`: the profile right after the subcommand, before any `--`. */
export function withProfile(u: OrgUserHandle, args: readonly string[]): string[] {
  return [args[0] as string, '--profile', u.profile, ...args.slice(1)];
}

export interface OrgUserHandle {
  name: string;
  site: string;
  profile: string;
  where: Where;
}

export class Org {
  readonly hqDir: string;
  hq: InselProc | undefined;
  readonly sites = new Map<string, InselProc>();

  constructor(readonly plan: OrgPlan) {
    this.hqDir = join(plan.dir, 'hq');
  }

  siteDir(name: string): string {
    return join(this.plan.dir, 'sites', name);
  }

  sitePlan(name: string): SitePlan {
    const s = this.plan.sites.find((p) => p.name === name);
    if (s === undefined) throw new Error(`no site ${name} in the plan`);
    return s;
  }

  /** `insel hq init` unless HQ's directory exists; then its listener and database as planned. Returns whether it created it. */
  async initHq(): Promise<boolean> {
    const toml = join(this.hqDir, 'hq.toml');
    const created = !existsSync(toml);
    const [host] = hostPort(this.plan.hq.dial);
    const db = this.plan.hq.database ?? 'sqlite';
    if (created) await inselOk(['hq', 'init', '--dir', this.hqDir, '--org', this.plan.org, '--host', host, '--listen', this.plan.hq.listen, '--database', db], this.plan.hq.where);
    setTomlKey(toml, 'listen', JSON.stringify(this.plan.hq.listen));
    if (this.plan.hq.database !== undefined) setTomlKey(toml, 'database', JSON.stringify(this.plan.hq.database));
    return created;
  }

  /** `insel hq run`, resolved once its TLS port accepts connections. */
  async startHq(): Promise<InselProc> {
    const p = startInsel('insel hq run', ['hq', 'run', '--dir', this.hqDir], this.plan.hq.where);
    this.hq = p;
    const [host, port] = hostPort(this.plan.hq.dial);
    await waitTcp(host, port, p, this.plan.hq.where);
    return p;
  }

  /** An admin command at HQ (`insel hq … --dir HQ`), run where HQ runs. */
  hqAdmin(args: readonly string[], ms?: number): Promise<string> {
    return inselOk(['hq', ...args, '--dir', this.hqDir], this.plan.hq.where, ms);
  }

  /** `insel hq site add` + `insel site enroll` + its site.toml, unless the site has an identity already. Returns whether it enrolled. */
  async enrollSite(name: string): Promise<boolean> {
    const plan = this.sitePlan(name);
    const dir = this.siteDir(name);
    const enrolled = existsSync(join(dir, 'identity', 'cert.pem'));
    if (!enrolled) {
      const code = codeIn(await this.hqAdmin(['site', 'add', name, '--groups', plan.groups.join(',')]), `insel hq site add ${name}`);
      mkdirSync(dir, { recursive: true });
      await inselOk(['site', 'enroll', '--hq', this.plan.hq.dial, '--code', code, '--dir', dir], plan.where);
    }
    writeFileSync(join(dir, 'site.toml'), siteToml(plan, this.plan.hq.dial));
    return !enrolled;
  }

  /** Points site `name` at another HQ (same database) and restarts it there. */
  async moveSite(name: string, hqDial: string): Promise<InselProc> {
    this.sitePlan(name).hq = hqDial;
    writeFileSync(join(this.siteDir(name), 'site.toml'), siteToml(this.sitePlan(name), this.plan.hq.dial));
    await this.sites.get(name)?.stop();
    return this.startSite(name);
  }

  /** `insel site run`, resolved once its TLS port accepts connections. */
  async startSite(name: string): Promise<InselProc> {
    const plan = this.sitePlan(name);
    const p = startInsel(`insel site run (${name})`, ['site', 'run', '--dir', this.siteDir(name)], plan.where);
    this.sites.set(name, p);
    const [host, port] = hostPort(plan.public);
    await waitTcp(host, port, p, plan.where);
    return p;
  }

  /** `insel site user add NAME --groups …` at the site: the user's enrollment code. */
  async userCode(site: string, name: string, groups: readonly string[]): Promise<string> {
    const out = await inselOk(['site', 'user', 'add', name, '--groups', groups.join(','), '--dir', this.siteDir(site)], this.sitePlan(site).where);
    return codeIn(out, `insel site user add ${name}`);
  }

  /** A user enrolled at `site` with a code, logged in from `where` into `profile` (skipped when the profile has a certificate). */
  async user(name: string, site: string, groups: readonly string[], where: Where = {}, profile = join(this.plan.dir, 'users', name)): Promise<OrgUserHandle> {
    if (!existsSync(join(profile, 'cert.pem'))) {
      const code = await this.userCode(site, name, groups);
      await inselOk(['login', '--site', this.sitePlan(site).public, '--code', code, '--profile', profile], where);
    }
    return { name, site, profile, where };
  }

  /** Waits until `insel services` shows the user every one of `services` (svc@site): their sites have registered. */
  async waitServices(u: OrgUserHandle, services: readonly string[], ms = 30_000): Promise<string> {
    let last = '';
    await waitUntil(
      async () => {
        const r = await this.as(u, ['services'], 10_000);
        last = r.stdout + r.stderr;
        return r.code === 0 && services.every((s) => serviceListed(last, s));
      },
      () => `insel services (${u.name}) to list ${services.join(', ')}; last answer:\n${last}`,
      ms,
    );
    return last;
  }

  /** `insel CMD --profile P ARGS…` as user `u`, where `u` is, to completion (the profile goes before a `--`). */
  as(u: OrgUserHandle, args: readonly string[], ms?: number): Promise<RunResult> {
    return runInsel(withProfile(u, args), u.where, ms);
  }

  /** A long-running `insel CMD --profile P ARGS…` as user `u` (insel open, agent, call, answer). */
  startAs(u: OrgUserHandle, args: readonly string[]): InselProc {
    return startInsel(`insel ${args[0]} (${u.name})`, withProfile(u, args), u.where);
  }

  /** Starts HQ and every site (enrolling what is not enrolled yet), the sites side by side. */
  async startAll(): Promise<void> {
    await this.initHq();
    await this.startHq();
    await Promise.all(this.plan.sites.map((s) => this.enrollSite(s.name)));
    await Promise.all(this.plan.sites.map((s) => this.startSite(s.name)));
  }

  /** Stops the sites, then HQ (SIGTERM, then SIGKILL). */
  async stop(): Promise<void> {
    await Promise.all([...this.sites.values()].map((p) => p.stop()));
    await this.hq?.stop();
  }
}

/** Whether a `insel services` listing has `svc@site` online ("web@branch<TAB>tcp<TAB>groups eng<TAB>online"). */
export function serviceListed(listing: string, svcAtSite: string): boolean {
  return listing.split('\n').some((l) => l.split(/\s+/)[0] === svcAtSite && /\bonline\b/.test(l));
}

/** The local address `insel open` printed (host:port), once it printed it. */
export async function openedAddress(p: InselProc, ms = 30_000): Promise<{ host: string; port: number }> {
  const m = await p.waitFor(/(127\.\d+\.\d+\.\d+|\[::1\]|localhost|\d+\.\d+\.\d+\.\d+):(\d{2,5})\b/, ms);
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}
