// Test program (run by plane-netns.test.ts inside a network namespace): one
// end of a point-to-point tunnel over real TUN/TAP. Opens the device and the
// UDP socket, starts a Plane with one default peer, prints the device name,
// and on SIGTERM prints the peer's stats as JSON and exits.
//   node netns-peer.js tun|tun-offload|tap LISTEN_PORT PEER_HOST PEER_PORT SEND_KEY_HEX RECV_KEY_HEX
import { openTun, openUdp } from './device.js';
import { Plane } from './plane.js';

const [mode, port, peerHost, peerPort, sendKey, recvKey] = process.argv.slice(2) as [string, string, string, string, string, string];
const dev = openTun({ tap: mode === 'tap', offload: mode === 'tun-offload' });
const udp = openUdp('0.0.0.0', Number(port));
const plane = new Plane({ tunFd: dev.fd, udpFd: udp.fd, tap: dev.tap, offload: dev.offload, maxPacket: 1500, mss: 1360 });
const iv = Buffer.alloc(12, 1);
plane.addPeer(1, { recvId: 1, sendId: 1, aead: 'aes-256-gcm', isDefault: true, follow: false });
plane.setSendKey(1, 0, Buffer.from(sendKey, 'hex'), iv, 0);
plane.setRecvKey(1, 'cur', 0, Buffer.from(recvKey, 'hex'), iv);
plane.setPath(1, { host: peerHost, port: Number(peerPort) });
process.stdout.write(`${dev.name}\n`);
process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify(plane.stats(1))}\n`);
  plane.close();
  udp.close();
  dev.close();
});
