// `insel quickstart` (`npm start`): the organization on one machine. In
// ./insel-quickstart/ (reused next time) it runs HQ and two site gateways
// (main, where the demo user lives, and branch, which publishes the sample
// services) as child processes on loopback, serves an HTTP page and a UDP
// echo at the branch, enrolls the demo user with a single-use code, opens
// both services through the VPN, and prints what happened and what to try
// next. Everything keeps running until Ctrl-C (SIGINT or SIGTERM), which
// stops it all. `--channels` runs the older secure-channel demo instead.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { InselError } from '../errors.js';
import { channelsDemo } from './quickstart-channels.js';
import { Org, openedAddress, type OrgPlan, type OrgUserHandle } from './quickstart-org.js';
import { stopAllProcs } from './quickstart-procs.js';
import { PAGE, fetchPage, startSampleServices, udpEcho, type SampleServices } from './quickstart-services.js';
import { freePorts } from './quickstart-ports.js';

export class QuickstartError extends InselError {
  constructor(step: string, cause: unknown) {
    super('INSEL_QUICKSTART', `quickstart: ${step} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const PORT_NAMES = ['hq', 'main', 'mainUdp', 'branch', 'branchUdp', 'web', 'echo'] as const;
type Ports = Record<(typeof PORT_NAMES)[number], number>;
const USER = 'demo';
const GROUP = 'staff';

/** The ports of an earlier run (so the printed commands and the user's profile stay valid), or new free ones. */
async function quickstartPorts(dir: string): Promise<Ports> {
  const file = join(dir, 'ports.json');
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Partial<Ports>;
    if (PORT_NAMES.every((n) => Number.isInteger(saved[n]))) return saved as Ports;
  }
  const list = await freePorts(PORT_NAMES.length);
  const ports = Object.fromEntries(PORT_NAMES.map((n, i) => [n, list[i]])) as Ports;
  writeFileSync(file, `${JSON.stringify(ports, null, 2)}\n`);
  return ports;
}

function orgPlan(dir: string, p: Ports): OrgPlan {
  const at = (port: number) => `127.0.0.1:${port}`;
  return {
    dir,
    org: 'insel-quickstart',
    hq: { listen: at(p.hq), dial: at(p.hq) },
    sites: [
      { name: 'main', listen: at(p.main), public: at(p.main), udpListen: at(p.mainUdp), groups: [GROUP], services: [] },
      {
        name: 'branch',
        listen: at(p.branch),
        public: at(p.branch),
        udpListen: at(p.branchUdp),
        groups: [GROUP],
        services: [
          { name: 'web', proto: 'tcp', host: '127.0.0.1', port: p.web, groups: [GROUP] },
          { name: 'echo', proto: 'udp', host: '127.0.0.1', port: p.echo, groups: [GROUP] },
        ],
      },
    ],
  };
}

async function step<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw new QuickstartError(what, err);
  }
}

/** Opens `svc@branch` with `insel open`, runs `use` on its local address, closes it. */
async function throughOpen<T>(org: Org, u: OrgUserHandle, svc: string, use: (host: string, port: number) => Promise<T>): Promise<T> {
  const open = org.startAs(u, ['open', svc]);
  try {
    const a = await openedAddress(open);
    return await use(a.host, a.port);
  } finally {
    await open.stop('SIGINT');
  }
}

async function runOrg(dirArg: string): Promise<void> {
  const dir = resolve(dirArg);
  const shown = relative(process.cwd(), dir) || '.';
  mkdirSync(dir, { recursive: true });
  const ports = await quickstartPorts(dir);
  const org = new Org(orgPlan(dir, ports));
  let services: SampleServices | undefined;
  const stopAll = async () => {
    await org.stop();
    await services?.close();
    await stopAllProcs();
  };
  // Ctrl-C at any point stops what has started (the children run in their own process groups).
  let ready = false;
  const stopped = new Promise<NodeJS.Signals>((r) => {
    const on = (signal: NodeJS.Signals) => {
      r(signal);
      if (!ready) void stopAll().finally(() => process.exit(130));
    };
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
  });
  try {
    services = await step('starting the sample services', () => startSampleServices(ports.web, ports.echo));
    out(`sample services at the branch office: an HTTP page on 127.0.0.1:${ports.web}, a UDP echo on 127.0.0.1:${ports.echo}`);
    const created = await step('insel hq init', () => org.initHq());
    await step('insel hq run', () => org.startHq());
    out(`HQ (org insel-quickstart) ${created ? 'created in' : 'reused from'} ${join(shown, 'hq')}, running on 127.0.0.1:${ports.hq}: the registry (SQLite) and the org CA`);
    const sites = org.plan.sites;
    const enrolled = await step('enrolling the sites', () => Promise.all(sites.map((s) => org.enrollSite(s.name))));
    await step('insel site run', () => Promise.all(sites.map((s) => org.startSite(s.name))));
    for (const [i, s] of sites.entries()) {
      const what = s.services.length === 0 ? 'its users log in here' : `publishes ${s.services.map((v) => `${v.name}@${s.name} (${v.proto})`).join(', ')}`;
      out(`site ${s.name} ${enrolled[i] === true ? 'enrolled with a single-use code (its key never left it)' : 'reused'}, gateway on ${s.public}: ${what}`);
    }
    const profile = join(dir, 'users', USER);
    const fresh = !existsSync(join(profile, 'cert.pem'));
    const user = await step(`enrolling user ${USER}`, () => org.user(USER, 'main', [GROUP], {}, profile));
    out(`user ${USER}@main (group ${GROUP}) ${fresh ? 'logged in with a single-use code: key made here, certificate from HQ' : 'reused'}, profile ${join(shown, 'users', USER)}`);
    const listing = await step('insel services', () => org.waitServices(user, ['web@branch', 'echo@branch']));
    out(`insel services shows ${USER}:\n${listing.trimEnd().replace(/^/gm, '  ')}`);
    const page = await step('opening web@branch', () => throughOpen(org, user, 'web@branch', (h, p) => fetchPage(h, p)));
    if (page !== PAGE) throw new QuickstartError('fetching the page through the VPN', new Error(`got ${JSON.stringify(page.slice(0, 200))}`));
    out(`insel open web@branch: fetched the page through main -> branch: ${JSON.stringify(page.trim())}`);
    // The UDP echo is the second sample: if it fails, say why and keep the organization running.
    const echoed = await throughOpen(org, user, 'echo@branch', (h, p) => udpEcho(h, p, `ping from ${USER}`)).then(
      (got) => `a UDP datagram went to the branch and came back: ${JSON.stringify(got)}`,
      (err: Error) => `failed: ${err.message.split('\n')[0]}`,
    );
    out(`insel open echo@branch: ${echoed}`);
    const p = `--profile ${join(shown, 'users', USER)}`;
    out('');
    out('try next (in another terminal, from this directory):');
    out(`  npx insel services ${p}`);
    out(`  npx insel open web@branch ${p}            # prints a local address; keep it open, browse it`);
    out(`  npx insel run web@branch ${p} -- curl -s http://{host}:{port}/`);
    out(`  npx insel open echo@branch ${p}           # a local UDP port: try nc -u`);
    out(`  npx insel hq status --dir ${join(shown, 'hq')}`);
    out(`  npx insel site user add bob --groups ${GROUP} --dir ${join(shown, 'sites', 'main')}   # a code for a second user, then:`);
    out(`  npx insel login --site ${org.sitePlan('main').public} --code CODE --profile bob`);
    out('quickstart: the organization is running; Ctrl-C stops it');
  } catch (err) {
    await stopAll();
    throw err;
  }
  ready = true;
  const signal = await stopped;
  await stopAll();
  out(`quickstart: ${signal}: stopped HQ, sites main and branch and the sample services`);
}

export function registerQuickstart(program: Command): void {
  program
    .command('quickstart')
    .description('run an organization on loopback: HQ, two sites, sample services, a demo user; Ctrl-C stops it')
    .option('--dir <dir>', 'where the organization lives (reused next time); default ./insel-quickstart, or ./insel-demo with --channels')
    .option('--channels', 'instead: the secure-channel demo (a demo PKI, a SecSockets channel over TCP and UDP)')
    .action(async (o: { dir?: string; channels?: boolean }) => {
      if (o.channels === true) await channelsDemo(o.dir ?? './insel-demo');
      else await runOrg(o.dir ?? './insel-quickstart');
    });
}
