// Test helpers: a server and a connected client on loopback, with
// certificates from a throwaway PKI (pki/testing.ts).
import type { SecChannel } from './channel.js';
import { connect, type ConnectOptions } from './client.js';
import { SecServer, type ServerOptions } from './server.js';
import { makeTestPki } from '../pki/testing.js';

export type TestPki = Awaited<ReturnType<typeof makeTestPki>>;

export interface Pair {
  server: SecServer;
  client: SecChannel;
  accepted: SecChannel;
  close(): Promise<void>;
}

type Extra = Omit<Partial<ServerOptions>, 'identity'>;

/** A server as `srv` and a client as `clientName` (default alice), connected. */
export async function pair(pki: TestPki, transport: 'tcp' | 'udp', server: Extra = {}, client: Omit<Partial<ConnectOptions>, 'identity'> = {}, clientName = 'alice'): Promise<Pair> {
  const srv = await SecServer.listen({ transport, identity: pki.profile('srv'), ...server });
  try {
    const [c, a] = await Promise.all([connect({ transport, host: '127.0.0.1', port: srv.port, identity: pki.profile(clientName), ...client }), srv.accept()]);
    return {
      server: srv,
      client: c,
      accepted: a,
      async close() {
        await c.close();
        await a.close();
        await srv.close();
      },
    };
  } catch (err) {
    await srv.close();
    throw err;
  }
}

/** Resolves with the server's next handshake error. */
export function nextHandshakeError(server: SecServer): Promise<Error> {
  return new Promise((resolve) => server.once('handshakeError', resolve));
}

/** Reads `n` messages from `ch`; fails after `ms` rather than waiting forever for a lost one. */
export async function take(ch: SecChannel, n: number, ms = 10_000): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`only ${out.length} of ${n} messages arrived within ${ms} ms (drops: ${JSON.stringify(ch.stats().drops)})`)), ms);
  });
  try {
    while (out.length < n) {
      const m = await Promise.race([ch.recv(), deadline]);
      if (m === null) break;
      out.push(m);
    }
  } finally {
    clearTimeout(timer);
  }
  return out;
}
