// SecSockets: secure message channels over TCP or UDP (seed 000 §4).
//
//   const server = await sec_init({ transport: 'udp', port: 4433, identity });
//   const ch = await sec_accept(server);            // peer authenticated, parameters agreed
//   const c = await sec_connect({ transport: 'udp', host, port: 4433, identity });
//   await sec_send(c, Buffer.from('hi')); const m = await sec_recv(ch); await sec_close(c);
//
// The camelCase API (SecServer.listen, connect, channel.send/recv/close) is
// the same thing; the sec_* names follow the seed's interface.
import type { SecChannel } from './channel.js';
import { connect, type ConnectOptions } from './client.js';
import { SecServer, type ServerOptions } from './server.js';

export { SecChannel, type ChannelParams, type ChannelStats } from './channel.js';
export { TcpChannel } from './tcp-channel.js';
export { UdpChannel } from './udp-channel.js';
export { SecServer, type ServerOptions, type ServerStats } from './server.js';
export { connect, type ConnectOptions } from './client.js';
export { channelStream } from './stream.js';
export { AEADS, HASHES, COMPRESSIONS, MODES } from './algorithms.js';
export * from './errors.js';
export { ConfigError } from '../config/errors.js';

export const sec_init = (options: ServerOptions): Promise<SecServer> => SecServer.listen(options);
export const sec_accept = (server: SecServer): Promise<SecChannel> => server.accept();
export const sec_connect = (options: ConnectOptions): Promise<SecChannel> => connect(options);
export const sec_send = (ch: SecChannel, message: Uint8Array): Promise<void> => ch.send(message);
export const sec_recv = (ch: SecChannel): Promise<Buffer | null> => ch.recv();
export const sec_close = (ch: SecChannel, reason?: string): Promise<void> => ch.close(reason);
