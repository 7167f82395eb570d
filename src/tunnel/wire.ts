// The tunnel's control connection (docs/PROTOCOL.md §6): TLS 1.3 with both
// certificates, ALPN insel-tun/1, SecSockets' frame format with the tunnel's
// own type table. It carries the connection phase (HELLO, ACCEPT or REJECT),
// the data channel's datagrams while the client is on the TCP rung (PACKET),
// and the end of the session (CLOSE, or the connection closing).
import type { Writable } from 'node:stream';
import { z } from 'zod';
import { encodeFrame, FrameDecoder } from '../secsock/frame.js';
import { decodeControl } from '../secsock/control.js';

export const TUN_ALPN = 'insel-tun/1';
export const TUN_VERSION = 1;

export const TunFrame = {
  HELLO: 1,
  ACCEPT: 2,
  REJECT: 3,
  /** One sealed data-channel datagram (PROTOCOL §3), exactly as it would travel over UDP. */
  PACKET: 4,
  /** UTF-8 reason; the sender then closes. */
  CLOSE: 5,
} as const;

const TYPES: ReadonlySet<number> = new Set(Object.values(TunFrame));
/** A datagram is at most 65535 bytes; control JSON is far smaller. */
export const TUN_MAX_FRAME = 65535;

export const newTunDecoder = (): FrameDecoder => new FrameDecoder(TUN_MAX_FRAME, TYPES);

/** A peer that does not read the TCP rung loses packets beyond this, not our memory. */
export const MAX_TCP_BACKLOG = 1 << 20;

/** Writes one PACKET frame unless the backlog bound is reached; false: dropped. */
export function writePacketFrame(socket: Writable, datagram: Buffer): boolean {
  if (socket.writableLength > MAX_TCP_BACKLOG) return false;
  socket.write(encodeFrame(TunFrame.PACKET, 0, datagram));
  return true;
}

const names = z.array(z.string().max(64)).min(1).max(16);
const hex32 = z.string().regex(/^[0-9a-f]{64}$/);
const cred = z.string().min(1).max(256).regex(/^[^\0-\x1f\x7f]*$/, 'no control characters');

export const tunHelloSchema = z
  .object({
    v: z.literal(TUN_VERSION),
    aeads: names,
    hashes: names,
    nonce: hex32,
    user: cred.optional(),
    password: cred.optional(),
  })
  .strict();

const v4 = z.object({ address: z.ipv4(), prefix: z.number().int().min(0).max(32), gateway: z.ipv4() }).strict();
const v6 = z.object({ address: z.ipv6(), prefix: z.number().int().min(0).max(128), gateway: z.ipv6() }).strict();
const route = z.object({ network: z.string().max(64), prefix: z.number().int().min(0).max(128) }).strict();

export const tunAcceptSchema = z
  .object({
    v: z.literal(TUN_VERSION),
    aead: z.enum(['aes-256-gcm', 'chacha20-poly1305']),
    hash: z.enum(['sha256', 'sha384', 'sha512', 'blake2b512']),
    nonce: hex32,
    channelId: z.number().int().min(1).max(0xffffffff),
    udpPort: z.number().int().min(0).max(65535),
    mtu: z.number().int().min(576).max(65535),
    keepalive: z.tuple([z.number().int().min(1).max(3600), z.number().int().min(2).max(7200)]),
    ipv4: v4.optional(),
    ipv6: v6.optional(),
    routes: z.array(route).max(256),
    redirectGateway: z.boolean(),
  })
  .strict();

export type TunHello = z.infer<typeof tunHelloSchema>;
export type TunAccept = z.infer<typeof tunAcceptSchema>;
export type PushedRoute = z.infer<typeof route>;

export const encodeJson = (type: number, msg: unknown): Buffer => encodeFrame(type, 0, Buffer.from(JSON.stringify(msg), 'utf8'));
export const decodeHello = (payload: Buffer, peer: string): TunHello => decodeControl(tunHelloSchema, payload, `tunnel HELLO from ${peer}`);
export const decodeAccept = (payload: Buffer, peer: string): TunAccept => decodeControl(tunAcceptSchema, payload, `tunnel ACCEPT from ${peer}`);
