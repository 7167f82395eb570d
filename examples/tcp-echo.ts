// A SecSockets echo over TCP: `node dist/examples/tcp-echo.js`.
// The server authenticates alice by her certificate, the client the server;
// every message comes back whole, through TLS 1.3.
import { sec_accept, sec_close, sec_connect, sec_init, sec_recv, sec_send } from '../src/secsock/index.js';
import { demoPki } from './demo-pki.js';

const pki = await demoPki();
const server = await sec_init({ transport: 'tcp', port: 0, identity: pki.server });
const client = await sec_connect({ transport: 'tcp', host: '127.0.0.1', port: server.port, identity: pki.alice });
const channel = await sec_accept(server);
console.log(`server: ${channel.peer.role} ${channel.peer.name} connected with ${channel.params.tlsCipher}`);

// The server echoes until the client closes.
const echo = (async () => {
  for (let m = await sec_recv(channel); m !== null; m = await sec_recv(channel)) await sec_send(channel, m);
})();

for (const text of ['hello', 'insel', 'x'.repeat(200_000)]) {
  await sec_send(client, Buffer.from(text));
  const back = await sec_recv(client);
  console.log(`client: sent ${text.length} bytes, got ${back?.length} back, equal: ${back?.toString() === text}`);
}
await sec_close(client);
await echo;
console.log('stats:', JSON.stringify(channel.stats()));
await server.close();
pki.remove();
