// `insel quickstart --channels`: the secure channel alone, on one machine
// (the organization's quickstart is quickstart.ts). Creates a demo PKI if
// missing (org insel-demo, server demo-server, user demo-user), then for
// each transport opens a SecSockets server and client over loopback,
// sends a message each way and prints what was negotiated and who the peers
// proved to be.
import { existsSync } from 'node:fs';
import { initCa } from '../pki/ca.js';
import { issueCert } from '../pki/issue.js';
import { listCerts } from '../pki/list.js';
import { loadProfile } from '../pki/profile.js';
import { pkiPaths } from '../pki/store.js';
import type { Role } from '../pki/identity.js';
import { connect, SecServer, type SecChannel } from '../secsock/index.js';

const ORG = 'insel-demo';
const SERVER = 'demo-server';
const USER = 'demo-user';
const TRANSPORTS = ['tcp', 'udp'] as const;

const out = (line: string) => process.stdout.write(`${line}\n`);

/** Creates what is missing (or no longer valid) of the demo PKI; returns what it created. */
async function ensureDemoPki(dir: string): Promise<string[]> {
  const paths = pkiPaths(dir);
  const created: string[] = [];
  if (!existsSync(paths.index)) {
    await initCa({ dir, org: ORG });
    created.push(paths.caCert);
  }
  const rows = listCerts({ dir });
  for (const [name, role] of [
    [SERVER, 'server'],
    [USER, 'user'],
  ] as [string, Role][]) {
    const current = rows.filter((r) => r.name === name).pop();
    if (current?.status === 'valid' && current.role === role && existsSync(paths.cert(name))) continue;
    const r = await issueCert({ dir, role, name, force: true });
    created.push(r.certFile);
  }
  return created;
}

async function expectMessage(ch: SecChannel, expected: Buffer, what: string): Promise<void> {
  const got = await ch.recv();
  if (got === null || !got.equals(expected)) throw new Error(`${what}: expected ${JSON.stringify(expected.toString())}, got ${got === null ? 'end of channel' : JSON.stringify(got.toString())}`);
}

async function demo(transport: (typeof TRANSPORTS)[number], dir: string): Promise<void> {
  const serverId = loadProfile(dir, SERVER);
  const userId = loadProfile(dir, USER);
  const server = await SecServer.listen({ transport, host: '127.0.0.1', port: 0, identity: serverId, peerRoles: ['user'] });
  try {
    const [client, accepted] = await Promise.all([
      connect({ transport, host: '127.0.0.1', port: server.port, identity: userId, peerRoles: ['server'] }),
      server.accept(),
    ]);
    try {
      const up = Buffer.from(`hello from ${USER} over ${transport}`);
      const down = Buffer.from(`hello from ${SERVER} over ${transport}`);
      await client.send(up);
      await expectMessage(accepted, up, `${transport} user -> server`);
      await accepted.send(down);
      await expectMessage(client, down, `${transport} server -> user`);
      const p = client.params;
      out(
        `${transport}: ${USER} -> server ${client.peer.name} (role ${client.peer.role}, org ${client.peer.org}), server sees ${accepted.peer.role} ${accepted.peer.name}; ` +
          `${p.aead} + ${p.hash}, compression ${p.compression}, mode ${p.mode}, TLS ${p.tlsCipher}` +
          (p.udpPort === undefined ? '' : `, UDP port ${p.udpPort}, channel ${p.channelId}`) +
          `; echoed ${up.length} and ${down.length} bytes`,
      );
    } finally {
      await client.close('quickstart done');
      await accepted.close('quickstart done');
    }
  } finally {
    await server.close();
  }
}

/** Creates (or reuses) the demo PKI in `dir` and runs a secure channel over each transport. */
export async function channelsDemo(dir: string): Promise<void> {
  const created = await ensureDemoPki(dir);
  out(`demo PKI in ${dir}: ${created.length > 0 ? `created ${created.join(', ')}` : 'reused the existing CA and certificates'}`);
  for (const transport of TRANSPORTS) await demo(transport, dir);
  out('quickstart: both transports work');
}
