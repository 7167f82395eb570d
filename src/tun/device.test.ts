// Opening the tunnel's fds fails with a TunDeviceError that names the
// device or address and says what to do. (Nothing here creates a device on
// the host: the names are ones the kernel refuses.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTun, openUdp } from './device.js';
import { TunDeviceError } from './errors.js';

test('a device name longer than 15 bytes is refused before the kernel sees it', () => {
  assert.throws(() => openTun({ name: 'insel-much-too-long' }), (e) => e instanceof TunDeviceError && e.code === 'INSEL_TUN_NAME' && /15 bytes/.test(e.message));
});

test('a name the kernel refuses: the device, and a hint (invalid name, or root needed)', () => {
  assert.throws(
    () => openTun({ name: 'bad name', tap: true }),
    (e) => e instanceof TunDeviceError && e.code === 'INSEL_TUN_OPEN' && /TAP device bad name/.test(e.message) && /invalid|CAP_NET_ADMIN/.test(e.message),
  );
});

test('a UDP port in use: the address and "the port is in use"; a bad host is a RangeError from the addon', () => {
  const first = openUdp('127.0.0.1', 0);
  try {
    assert.throws(() => openUdp('127.0.0.1', first.port), (e) => e instanceof TunDeviceError && e.code === 'INSEL_UDP_OPEN' && e.message.includes(`127.0.0.1:${first.port}: the port is in use`));
    assert.throws(() => openUdp('example.com', 1), (e) => e instanceof TunDeviceError && (e.cause as Error) instanceof RangeError);
  } finally {
    first.close();
    first.close(); // closing twice is harmless
  }
});

test('offloads are for TUN devices: a TAP with offload is refused before the kernel sees it', () => {
  assert.throws(() => openTun({ tap: true, offload: true }), (e) => e instanceof TunDeviceError && e.code === 'INSEL_TUN_OPEN' && /TUN devices only/.test(e.message));
});
