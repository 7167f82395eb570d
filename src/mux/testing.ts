// Test doubles for the multiplexer: a session pair over a real loopback TLS
// 1.3 connection, and a session over a socket double whose input the test
// writes and whose output it reads.
import { once } from 'node:events';
import { Duplex } from 'node:stream';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { TestPki } from '../pki/testing.js';
import { FrameType, MUX_ALPN } from './constants.js';
import type { FrameSink } from './frame.js';
import { FrameDecoder } from './frame.js';
import { MuxSession, type MuxSessionOptions } from './session.js';
import type { MuxStream } from './stream.js';

export interface MuxPair {
  client: MuxSession;
  server: MuxSession;
  clientSocket: TLSSocket;
  serverSocket: TLSSocket;
  close(): Promise<void>;
}

type Extra = Omit<MuxSessionOptions, 'side'>;

export async function tlsPair(pki: TestPki, opts: { client?: Extra; server?: Extra } = {}): Promise<MuxPair> {
  const srv = pki.profile('srv');
  const alice = pki.profile('alice');
  const server = createServer({ cert: srv.cert, key: srv.key, ca: srv.ca, requestCert: true, rejectUnauthorized: true, ALPNProtocols: [MUX_ALPN], minVersion: 'TLSv1.3' });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const accepted = once(server, 'secureConnection') as Promise<[TLSSocket]>;
  const clientSocket = connect({ host: '127.0.0.1', port, cert: alice.cert, key: alice.key, ca: alice.ca, ALPNProtocols: [MUX_ALPN], minVersion: 'TLSv1.3' });
  await once(clientSocket, 'secureConnect');
  const [serverSocket] = await accepted;
  server.close();
  return {
    client: new MuxSession(clientSocket, { peer: 'srv', ...opts.client, side: 'client' }),
    server: new MuxSession(serverSocket, { peer: 'alice', ...opts.server, side: 'server' }),
    clientSocket,
    serverSocket,
    async close() {
      const gone = [clientSocket, serverSocket].map((s) => (s.closed ? Promise.resolve() : once(s, 'close')));
      clientSocket.destroy();
      serverSocket.destroy();
      await Promise.all(gone);
    },
  };
}

/** A socket double: `input()` feeds the session, everything it writes lands in `written`; `stalled`, no write ever completes. */
export class WireDouble extends Duplex {
  written: Buffer[] = [];

  constructor(private readonly stalled = false) {
    super();
  }

  input(b: Buffer): void {
    this.push(b);
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.written.push(chunk);
    if (!this.stalled) cb();
  }

  /** The frames written so far. */
  frames(): Seen[] {
    const c = collector();
    new FrameDecoder(c.sink).push(Buffer.concat(this.written));
    return c.frames;
  }
}

export interface Seen {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}

/** A sink that collects whole frames, joining DATA pieces (the test may copy; the decoder may not). */
export function collector(): { sink: FrameSink; frames: Seen[]; pieces: number } {
  const out = { frames: [] as Seen[], pieces: 0, sink: undefined as unknown as FrameSink };
  let data: { id: number; flags: number; parts: Buffer[] } | undefined;
  out.sink = {
    dataStart: (id, flags) => void (data = { id, flags, parts: [] }),
    dataPiece: (p) => {
      out.pieces++;
      data!.parts.push(Buffer.from(p));
    },
    dataEnd: () => {
      out.frames.push({ type: FrameType.DATA, flags: data!.flags, id: data!.id, payload: Buffer.concat(data!.parts) });
      data = undefined;
    },
    control: (type, flags, id, payload) => void out.frames.push({ type, flags, id, payload: Buffer.from(payload) }),
  };
  return out;
}

/** Answers every stream the peer opens and sends its bytes back. */
export function echoStreams(session: MuxSession): void {
  session.on('stream', (s: MuxStream) => {
    s.respond({ ':status': 'ok' });
    s.pipe(s);
  });
}

/** Writes `payload`, ends, and resolves with everything read back until the end. */
export function roundTrip(s: MuxStream, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (b: Buffer) => chunks.push(b));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('reset', (code: number, reason: string) => reject(new Error(`stream ${s.id} reset ${code}: ${reason}`)));
    s.end(payload);
  });
}

/** `bytes` cut at the given points (taken modulo its length + 1), in order: the chunks a socket might deliver. */
export function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1))), bytes.length].sort((a, b) => a - b);
  let prev = 0;
  return points.map((p) => {
    const chunk = bytes.subarray(prev, p);
    prev = p;
    return chunk;
  });
}
