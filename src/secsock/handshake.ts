// Pieces of the connection phase shared by both ends: reading one frame from
// the TLS socket with a deadline, sending a rejection the peer can print,
// building the channel parameters, and the keys of a UDP channel.
import { randomBytes } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Hash } from './algorithms.js';
import type { ChannelParams } from './channel.js';
import type { ResolvedOptions } from './config.js';
import { EXPORTER_LABEL, FrameType, NONCE_BYTES, PROTOCOL_VERSION } from './constants.js';
import { decodeControl, encodeControl, rejectSchema, type Accept, type Hello } from './control.js';
import { ChannelError, RejectedError } from './errors.js';
import { FrameDecoder, encodeFrame, type Frame } from './frame.js';
import { HASH_SIZE } from './algorithms.js';
import { KeyChain, exporterContext, initialChains } from './keys.js';

/** Control messages are small; a peer sending more during the handshake is wrong. */
export const HANDSHAKE_MAX_FRAME = 64 * 1024;

export function peerLabel(socket: TLSSocket): string {
  return `${socket.remoteAddress}:${socket.remotePort}`;
}

export function freshNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/**
 * The next frame from the socket, or an error on timeout or close. Leaves
 * the socket paused with any further bytes kept in the decoder.
 */
export function readFrame(socket: TLSSocket, decoder: FrameDecoder, timeoutMs: number, what: string): Promise<Frame> {
  return new Promise((resolve, reject) => {
    const peer = peerLabel(socket);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
      socket.pause();
    };
    const onData = (chunk: Buffer) => {
      decoder.push(chunk);
      let f: Frame | undefined;
      try {
        f = decoder.next();
      } catch (err) {
        cleanup();
        reject(err);
        return;
      }
      if (f) {
        cleanup();
        resolve(f);
      }
    };
    const onClose = () => {
      cleanup();
      reject(new ChannelError('INSEL_CONNECT_FAILED', `${peer} closed the connection while we waited for ${what}`, { peer }));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new ChannelError('INSEL_CONNECT_FAILED', `connection to ${peer} failed while we waited for ${what}: ${err.message}`, { peer, cause: err }));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new ChannelError('INSEL_HANDSHAKE_TIMEOUT', `no ${what} from ${peer} within ${timeoutMs} ms`, { peer }));
    }, timeoutMs);
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
    const buffered = decoder.next();
    if (buffered) {
      cleanup();
      resolve(buffered);
      return;
    }
    socket.resume();
  });
}

/** Tells the peer why we refuse it, then closes. */
export function sendReject(socket: TLSSocket, code: string, message: string): void {
  if (socket.destroyed) return;
  socket.end(encodeFrame(FrameType.REJECT, 0, encodeControl({ code, message: message.slice(0, 4096) })));
}

export function rejectionFrom(frame: Frame, peer: string): RejectedError {
  try {
    const r = decodeControl(rejectSchema, frame.payload, 'REJECT');
    return new RejectedError(r.code, `${peer} refused: ${r.message}`, { peer });
  } catch {
    return new RejectedError('unknown', `${peer} refused (its reason could not be read)`, { peer });
  }
}

export function newDecoder(): FrameDecoder {
  return new FrameDecoder(HANDSHAKE_MAX_FRAME);
}

export function helloFrom(opts: ResolvedOptions, nonce: Buffer): Hello {
  return {
    v: PROTOCOL_VERSION,
    transport: opts.transport,
    aeads: opts.aeads,
    hashes: opts.hashes,
    compressions: opts.compressions,
    modes: opts.modes,
    nonce: nonce.toString('hex'),
    maxFrame: opts.maxFrame,
    maxMessage: opts.maxMessage,
    datagramSize: opts.datagramSize,
  };
}

export function paramsFrom(accept: Accept, transport: 'tcp' | 'udp', socket: TLSSocket): ChannelParams {
  return {
    transport,
    aead: accept.aead as ChannelParams['aead'],
    hash: accept.hash as ChannelParams['hash'],
    compression: accept.compression as ChannelParams['compression'],
    mode: accept.mode as ChannelParams['mode'],
    maxFrame: accept.maxFrame,
    maxMessage: accept.maxMessage,
    datagramSize: accept.datagramSize,
    tlsCipher: socket.getCipher()?.standardName ?? 'unknown',
    ...(accept.udpPort !== undefined ? { udpPort: accept.udpPort } : {}),
    ...(accept.channelId !== undefined ? { channelId: accept.channelId } : {}),
  };
}

/** Both directions' key chains from the TLS exporter and both nonces (see keys.ts). */
export function udpChains(socket: TLSSocket, hash: Hash, nonceC: Buffer, nonceS: Buffer, channelId: number, role: 'client' | 'server') {
  const exported = socket.exportKeyingMaterial(HASH_SIZE[hash], EXPORTER_LABEL, exporterContext(nonceC, nonceS, channelId));
  const { c2s, s2c } = initialChains(hash, exported, nonceC, nonceS);
  exported.fill(0);
  const c = new KeyChain(hash, c2s);
  const s = new KeyChain(hash, s2c);
  return role === 'client' ? { sendChain: c, recvChain: s } : { sendChain: s, recvChain: c };
}
