// The org bench's `insel forward -L` baseline: a plain `insel gateway` on
// loopback with a server certificate from the organization's own CA (HQ's
// PKI directory), so alice's org profile works with `insel forward --via`
// unchanged: one gateway between her and the target, next to the relay
// pair of `insel open`.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Org, OrgUserHandle } from '../src/cli/quickstart-org.js';
import { freePorts } from '../src/cli/quickstart-ports.js';
import { inselOk, startInsel, waitTcp, type InselProc } from '../src/cli/quickstart-procs.js';

const START_MS = 20_000;

export interface ClientHandle {
  port: number;
  stop(): Promise<unknown>;
}

/** Starts the gateway; resolves a starter of fresh `insel forward -L` clients to `target` through it, and its stop. */
export async function startForwardBaseline(org: Org, alice: OrgUserHandle, dir: string, target: number): Promise<{ forward(): Promise<ClientHandle>; gateway: InselProc }> {
  const pki = join(org.hqDir, 'pki');
  const profile = join(dir, 'bench-gw');
  await inselOk(['pki', 'issue', '--dir', pki, '--role', 'server', '--name', 'bench-gw', '--host', '127.0.0.1']);
  await inselOk(['pki', 'export', 'bench-gw', '--dir', pki, '--out', profile]);
  const [port] = (await freePorts(1)) as [number];
  const conf = join(dir, 'bench-gw.toml');
  writeFileSync(
    conf,
    [`listen = "127.0.0.1:${port}"`, `profile = ${JSON.stringify(profile)}`, '', '[[allow]]', 'name = "bench target"', 'who = ["*"]', 'to = ["127.0.0.1"]', 'ports = ["*"]', ''].join('\n'),
  );
  const gateway = startInsel('insel gateway', ['gateway', '--config', conf]);
  await waitTcp('127.0.0.1', port, gateway);
  const forward = async (): Promise<ClientHandle> => {
    const p = startInsel('insel forward -L', ['forward', '--via', `127.0.0.1:${port}`, '--profile', alice.profile, '-L', `0:127.0.0.1:${target}`]);
    try {
      const m = await p.waitFor(new RegExp(`forward -L 127\\.0\\.0\\.1:(\\d+) -> 127\\.0\\.0\\.1:${target}\\b`), START_MS);
      return { port: Number(m[1]), stop: () => p.stop('SIGINT') };
    } catch (err) {
      await p.stop();
      throw err;
    }
  };
  return { forward, gateway };
}
