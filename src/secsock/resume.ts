// TCP rekey by moving a channel to a fresh TLS connection.
//
// Node exposes no TLS 1.3 KeyUpdate, so a TCP channel gets new keys the way
// a new connection does: a full TLS 1.3 handshake (fresh ECDHE, mutual
// certificates), then RESUME proves the client owned the old connection:
//
//   secret = Exporter_old("EXPORTER-insel-resume-v1", channel_id, 32)
//   proof  = HMAC-SHA256(secret, Exporter_new("EXPORTER-insel-resume-proof-v1", channel_id, 32))
//
// The proof is bound to both connections, so it cannot be replayed on a
// third. Ordering across the move is kept by SWITCH frames (tcp-channel.ts).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { RESUME_PROOF_LABEL, RESUME_SECRET_LABEL } from './constants.js';

function context(channelId: number): Buffer {
  const ctx = Buffer.allocUnsafe(4);
  ctx.writeUInt32BE(channelId, 0);
  return ctx;
}

export function resumeSecret(socket: TLSSocket, channelId: number): Buffer {
  return socket.exportKeyingMaterial(32, RESUME_SECRET_LABEL, context(channelId));
}

export function resumeProof(secret: Buffer, fresh: TLSSocket, channelId: number): Buffer {
  return createHmac('sha256', secret).update(fresh.exportKeyingMaterial(32, RESUME_PROOF_LABEL, context(channelId))).digest();
}

export function proofMatches(secret: Buffer, fresh: TLSSocket, channelId: number, proofHex: string): boolean {
  const got = Buffer.from(proofHex, 'hex');
  const want = resumeProof(secret, fresh, channelId);
  return got.length === want.length && timingSafeEqual(got, want);
}
