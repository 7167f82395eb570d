// A SecSockets echo over UDP: `node dist/examples/udp-echo.js`.
// The connection phase runs over TLS; then the channel lives on UDP,
// every datagram AEAD-sealed with keys exported from that TLS session.
// Halfway through, the client moves to a new UDP port (as after a NAT
// rebinding) and the channel carries on.
import { sec_accept, sec_close, sec_connect, sec_init, sec_recv, sec_send, type UdpChannel } from '../src/secsock/index.js';
import { demoPki } from './demo-pki.js';

const pki = await demoPki();
const server = await sec_init({ transport: 'udp', port: 0, identity: pki.server });
const client = (await sec_connect({ transport: 'udp', host: '127.0.0.1', port: server.port, identity: pki.alice })) as UdpChannel;
const channel = await sec_accept(server);
const p = channel.params;
console.log(`server: ${channel.peer.role} ${channel.peer.name} on UDP port ${p.udpPort}, channel ${p.channelId}, ${p.aead}/${p.hash}, mode ${p.mode}`);

const echo = (async () => {
  for (let m = await sec_recv(channel); m !== null; m = await sec_recv(channel)) await sec_send(channel, m);
})();

for (const [i, text] of ['hello', 'over', 'udp', 'y'.repeat(100_000)].entries()) {
  if (i === 2) {
    await client.udp.rebind('127.0.0.1');
    console.log(`client: moved to local UDP port ${client.udp.port}`);
  }
  await sec_send(client, Buffer.from(text));
  const back = await sec_recv(client);
  console.log(`client: sent ${text.length} bytes, got ${back?.length} back, equal: ${back?.toString() === text}`);
}
await sec_close(client);
await echo;
const s = channel.stats();
console.log(`server saw ${s.messagesIn} messages in ${s.datagramsIn} datagrams, ${s.roams} roam(s), drops ${JSON.stringify(s.drops)}`);
await server.close();
pki.remove();
