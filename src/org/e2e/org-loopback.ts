// The organization on loopback for the end-to-end tests that need no
// namespaces (failures, rollover, FTP, PostgreSQL) and for the org bench:
// HQ and the sites main and branch as real `insel` processes on free
// 127.0.0.1 ports, the branch's services in this process (an HTTP page, a
// TCP echo, a UDP echo), and users logged in with `insel login`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Org, type OrgUserHandle, type ServicePlan } from '../../cli/quickstart-org.js';
import { freePorts } from '../../cli/quickstart-ports.js';
import type { InselProc, RunResult } from '../../cli/quickstart-procs.js';
import { startSampleServices, type SampleServices } from '../../cli/quickstart-services.js';
import { startTcpEcho, type TcpEcho } from './holder.js';

export const GROUP = 'eng';

export interface LoopbackOptions {
  /** a temp-dir name part */
  part: string;
  /** database = "postgres://…" in hq.toml (default SQLite) */
  database?: string;
  /** more services at the branch (e.g. an FTP server) */
  extraServices?: ServicePlan[];
}

export class LoopbackOrg {
  private constructor(
    readonly org: Org,
    readonly dir: string,
    readonly ports: { web: number; echo: number; udpEcho: number },
    private readonly servers: { sample: SampleServices; echo: TcpEcho },
  ) {}

  static async create(o: LoopbackOptions): Promise<LoopbackOrg> {
    const dir = mkdtempSync(join(tmpdir(), `insel-org-${o.part}-`));
    const [hq, main, mainUdp, branch, branchUdp, web, echo, udpEcho] = (await freePorts(8)) as [number, number, number, number, number, number, number, number];
    const at = (port: number) => `127.0.0.1:${port}`;
    const services: ServicePlan[] = [
      { name: 'web', proto: 'tcp', host: '127.0.0.1', port: web, groups: [GROUP] },
      { name: 'echo', proto: 'tcp', host: '127.0.0.1', port: echo, groups: [GROUP] },
      { name: 'udpecho', proto: 'udp', host: '127.0.0.1', port: udpEcho, groups: [GROUP] },
      ...(o.extraServices ?? []),
    ];
    const org = new Org({
      dir,
      org: `insel-${o.part}`,
      hq: { listen: at(hq), dial: at(hq), ...(o.database === undefined ? {} : { database: o.database }) },
      sites: [
        { name: 'main', listen: at(main), public: at(main), udpListen: at(mainUdp), groups: [GROUP], services: [] },
        { name: 'branch', listen: at(branch), public: at(branch), udpListen: at(branchUdp), groups: [GROUP], services },
      ],
    });
    let sample: SampleServices | undefined;
    let echoServer: TcpEcho | undefined;
    try {
      sample = await startSampleServices(web, udpEcho);
      echoServer = await startTcpEcho(echo);
      await org.startAll();
      return new LoopbackOrg(org, dir, { web, echo, udpEcho }, { sample, echo: echoServer });
    } catch (err) {
      await org.stop();
      await sample?.close();
      await echoServer?.close();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** A user of site main, logged in with a code from `insel site user add`. */
  user(name: string, groups: readonly string[] = [GROUP]): Promise<OrgUserHandle> {
    return this.org.user(name, 'main', groups);
  }

  /** `insel CMD --profile P ARGS` as `u`, to completion. */
  as(u: OrgUserHandle, args: readonly string[], ms?: number): Promise<RunResult> {
    return this.org.as(u, args, ms);
  }

  /** A long-running `insel CMD --profile P ARGS` as `u` (insel open …). */
  startAs(u: OrgUserHandle, args: readonly string[]): InselProc {
    return this.org.startAs(u, args);
  }

  async close(): Promise<void> {
    await this.org.stop();
    await this.servers.sample.close();
    await this.servers.echo.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
