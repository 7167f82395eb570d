// The organization's end-to-end lab: real `insel` processes (HQ, site
// gateways, users' commands) in network namespaces that model two or three
// LANs and an "internet" between them.
//
//   LAN main 10.1.0.0/24 (switch ns lan1)       "internet" 203.0.113.0/24 (switch ns inet)      LAN branch 10.2.0.0/24 (switch ns lan2)
//   alice 10.1.0.10 ─┐                          ┌─ www 203.0.113.100 (a host outside the VPN)    ┌─ bob 10.2.0.10
//   carol 10.1.0.11 ─┼─ gw-main 10.1.0.1 ═══════┼═ 203.0.113.1  HQ :7443, site main :7444       ├─ srv 10.2.0.20 (web :8080, echo :7007, udp echo :9009)
//                    │  (routes the LAN to the  ├═ 203.0.113.2  site branch :7444 ═ 10.2.0.1 ─┘
//                    │   internet, not beyond)  └═ 203.0.113.3  site lab :7444    ═ 10.3.0.1 ── srv3 10.3.0.20 (web :8080)   LAN lab 10.3.0.0/24 (lan3)
//
// Only the gateways have a foot in the internet. The main LAN's gateway
// forwards its LAN to the internet (so alice reaches www directly: open
// access), but no gateway forwards into its LAN: alice reaches the branch's
// servers only through insel. Namespaces are i14-<part>-<pid>-<n>-*;
// close() stops every process and deletes every namespace, also after a
// failure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsLab, waitForLine } from '../../hostnet/netns-testing.js';
import { Org, type OrgPlan, type OrgUserHandle, type SitePlan } from '../../cli/quickstart-org.js';
import type { InselProc, RunResult } from '../../cli/quickstart-procs.js';
import { HTTP_PORT, ECHO_PORT, UDP_ECHO_PORT, servicesCode, WEB_PAGE } from './org-servers.js';

export const HQ_ADDR = '203.0.113.1';
export const WWW_ADDR = '203.0.113.100';
export const BRANCH_SRV = '10.2.0.20';
export const LAB_SRV = '10.3.0.20';

export interface LabSite {
  name: string;
  lan: number;
  /** the gateway's foot in the internet */
  inet: string;
}

const SITES: LabSite[] = [
  { name: 'main', lan: 1, inet: '203.0.113.1' },
  { name: 'branch', lan: 2, inet: '203.0.113.2' },
  { name: 'lab', lan: 3, inet: '203.0.113.3' },
];

export interface OrgLabOptions {
  /** namespace part (a-z0-9, ≤ 12): keeps parallel test files apart */
  part: string;
  /** how many sites: main and branch, or also lab (revocation across three gateways) */
  sites: 2 | 3;
}

export class OrgLab {
  readonly users = new Map<string, OrgUserHandle & { ns: string }>();
  private constructor(
    readonly net: NetnsLab,
    readonly org: Org,
    readonly dir: string,
    /** site name → its gateway namespace */
    readonly gw: Map<string, string>,
    /** short name (alice, bob, carol, www, srv, srv3) → namespace */
    readonly hosts: Map<string, string>,
  ) {}

  static async create(o: OrgLabOptions): Promise<OrgLab> {
    const net = await NetnsLab.create(o.part);
    const dir = mkdtempSync(join(tmpdir(), `insel-org-${o.part}-`));
    try {
      const { gw, hosts } = await topology(net, SITES.slice(0, o.sites));
      const org = new Org(plan(dir, gw, SITES.slice(0, o.sites)));
      const lab = new OrgLab(net, org, dir, gw, hosts);
      await lab.startServers();
      await org.startAll();
      return lab;
    } catch (err) {
      await net.cleanup();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  ns(host: string): string {
    const ns = this.hosts.get(host) ?? this.gw.get(host);
    if (ns === undefined) throw new Error(`no host ${host} in the lab`);
    return ns;
  }

  private async startServers(): Promise<void> {
    const srvs = [this.hosts.get('srv'), this.hosts.get('srv3')].filter((s): s is string => s !== undefined);
    for (const ns of srvs) {
      const p = this.net.node(ns, '-e', [servicesCode(ns)]);
      await waitForLine(p, 'listening');
    }
    await this.net.whoamiServer(this.ns('www'), HTTP_PORT);
  }

  /** A user of `site` logged in from its LAN host `host` (alice, carol at main; bob at branch). */
  async user(name: string, site: string, groups: readonly string[] = ['eng']): Promise<OrgUserHandle & { ns: string }> {
    const ns = this.ns(name);
    const u = { ...(await this.org.user(name, site, groups, { netns: ns }, join(this.dir, 'users', name))), ns };
    this.users.set(name, u);
    return u;
  }

  private handle(name: string): OrgUserHandle & { ns: string } {
    const u = this.users.get(name);
    if (u === undefined) throw new Error(`user ${name} has not logged in`);
    return u;
  }

  /** `insel CMD --profile P ARGS` as user `name`, in the user's namespace, to completion. */
  as(name: string, args: readonly string[], ms?: number): Promise<RunResult> {
    return this.org.as(this.handle(name), args, ms);
  }

  /** A long-running `insel CMD --profile P ARGS` as user `name` (insel open, insel agent, insel call). */
  startAs(name: string, args: readonly string[]): InselProc {
    return this.org.startAs(this.handle(name), args);
  }

  /** Stops every insel process, deletes the namespaces and the directory. */
  async close(): Promise<void> {
    await this.org.stop().catch(() => undefined);
    await this.net.cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export { WEB_PAGE, HTTP_PORT, ECHO_PORT, UDP_ECHO_PORT };

function plan(dir: string, gw: Map<string, string>, sites: LabSite[]): OrgPlan {
  const sitePlan = (s: LabSite): SitePlan => ({
    name: s.name,
    listen: '0.0.0.0:7444',
    public: `${s.inet}:7444`,
    udpListen: '0.0.0.0:7445',
    groups: ['eng', 'ops'],
    where: { netns: gw.get(s.name) as string },
    services:
      s.name === 'branch'
        ? [
            { name: 'web', proto: 'tcp', host: BRANCH_SRV, port: HTTP_PORT, groups: ['eng'] },
            { name: 'echo', proto: 'tcp', host: BRANCH_SRV, port: ECHO_PORT, groups: ['eng'] },
            { name: 'udpecho', proto: 'udp', host: BRANCH_SRV, port: UDP_ECHO_PORT, groups: ['eng'] },
            { name: 'ops', proto: 'tcp', host: BRANCH_SRV, port: HTTP_PORT, groups: ['ops'] },
          ]
        : s.name === 'lab'
          ? [{ name: 'echo', proto: 'tcp', host: LAB_SRV, port: ECHO_PORT, groups: ['eng'] }]
          : [],
  });
  return {
    dir,
    org: 'insel-lab',
    hq: { listen: '0.0.0.0:7443', dial: `${HQ_ADDR}:7443`, where: { netns: gw.get('main') as string } },
    sites: sites.map(sitePlan),
  };
}

/** The namespaces and links of the picture above; returns the gateways' and hosts' namespaces. */
async function topology(net: NetnsLab, sites: LabSite[]): Promise<{ gw: Map<string, string>; hosts: Map<string, string> }> {
  const gw = new Map<string, string>();
  const hosts = new Map<string, string>();
  const inet = await net.ns('inet');
  await net.bridge(inet, 'br0');
  const www = await net.ns('www');
  hosts.set('www', www);
  await net.veth({ ns: www, dev: 'eth0', addr4: `${WWW_ADDR}/24` }, { ns: inet, dev: 'pwww', bridge: 'br0' });
  // The internet knows the way back to the main LAN (it has internet access), to no other LAN.
  await net.run(www, 'ip', ['route', 'add', '10.1.0.0/24', 'via', '203.0.113.1']);
  const lanHosts: Record<string, [string, number][]> = { main: [['alice', 10], ['carol', 11]], branch: [['bob', 10], ['srv', 20]], lab: [['srv3', 20]] };
  for (const s of sites) {
    const g = await net.ns(`gw-${s.name}`);
    gw.set(s.name, g);
    const lan = await net.ns(`lan${s.lan}`);
    await net.bridge(lan, 'br0');
    await net.veth({ ns: g, dev: 'eth0', addr4: `10.${s.lan}.0.1/24` }, { ns: lan, dev: 'pgw', bridge: 'br0' });
    await net.veth({ ns: g, dev: 'eth1', addr4: `${s.inet}/24` }, { ns: inet, dev: `p${s.name}`, bridge: 'br0' });
    if (s.name === 'main') await net.sysctl(g, 'net.ipv4.ip_forward', '1');
    for (const [host, n] of lanHosts[s.name] ?? []) {
      const h = await net.ns(host);
      hosts.set(host, h);
      await net.veth({ ns: h, dev: 'eth0', addr4: `10.${s.lan}.0.${n}/24` }, { ns: lan, dev: `p${host}`, bridge: 'br0' });
      await net.run(h, 'ip', ['route', 'add', 'default', 'via', `10.${s.lan}.0.1`]);
    }
  }
  return { gw, hosts };
}
