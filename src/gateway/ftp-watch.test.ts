// FtpWatch, the gateway's reading of an FTP control connection, without
// sockets: bytes in arbitrary chunks, a clock the test moves.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_MAX_LINE_BYTES } from '../ftp/relay.js';
import { FtpWatch, PASSIVE_TTL_MS } from './ftp-watch.js';

const b = (s: string) => Buffer.from(s, 'latin1');

function greeted(now = () => 0): FtpWatch {
  const w = new FtpWatch('10.0.0.1', now);
  w.fromServer(b('220 ready\r\n'));
  return w;
}

describe('FtpWatch', () => {
  test('the greeting decides: 220 (also split or multi-line) or nothing', () => {
    const split = new FtpWatch('10.0.0.1');
    assert.match(split.unusable!, /not yet greeted/);
    split.fromServer(b('2'));
    split.fromServer(b('20-welcome\r\n220 ready\r\n'));
    assert.equal(split.unusable, undefined);

    const ssh = new FtpWatch('10.0.0.1');
    ssh.fromServer(b('SSH-2.0-OpenSSH_9.2\r\n220 too late\r\n'));
    assert.match(ssh.unusable!, /did not greet with 220/);

    const eager = new FtpWatch('10.0.0.1');
    eager.fromClient(b('220 forged\r\n'));
    eager.fromServer(b('220 ready\r\n'));
    assert.match(eager.unusable!, /client spoke before/);
  });

  test('each 227/229 allows one data connection to its port, for a while', () => {
    let t = 0;
    const w = greeted(() => t);
    assert.match(w.takePassive(5000)!, /announced no passive data port 5000/);
    w.fromServer(b('227 Entering Passive Mode (192,0,2,9,19,136).\r\n')); // 5000; its address is not ours to follow
    w.fromServer(b('229-Extended\r\n229 Entering Extended Passive Mode (|||5001|)\r\n'));
    assert.equal(w.takePassive(5000), undefined);
    assert.match(w.takePassive(5000)!, /used already/);
    t += PASSIVE_TTL_MS;
    assert.match(w.takePassive(5001)!, /announced no passive data port 5001/, 'expired');
  });

  test('only the latest announcements are remembered', () => {
    const w = greeted();
    for (let p = 6000; p < 6009; p++) w.fromServer(b(`229 Entering Extended Passive Mode (|||${p}|)\r\n`));
    assert.match(w.takePassive(6000)!, /announced no/);
    assert.equal(w.takePassive(6008), undefined);
  });

  test('an over-long line ends what the connection can authorize', () => {
    const w = greeted();
    w.fromServer(b('229 Entering Extended Passive Mode (|||7000|)\r\n'));
    w.fromServer(Buffer.alloc(DEFAULT_MAX_LINE_BYTES + 1, 0x41));
    assert.match(w.takePassive(7000)!, /broke FTP framing/);
  });

  test('a PORT/EPRT the client sent naming our address and an open port arms it', () => {
    const w = greeted();
    const slot = w.reserveActive();
    slot.port = 4100;
    w.fromClient(b('PORT 10,0,0,2,16,4\r\n')); // another host
    w.fromClient(b('EPRT |1|10.0.0.1|4101|\r\n')); // another port
    w.fromClient(b('\xff\xfbPORT 10,0,0,1,16,4\r\n')); // verb ambiguous under Telnet
    assert.equal(slot.armed, false);
    w.fromClient(b('EPRT |1|10.0.0.1|41'));
    w.fromClient(b('00|\r\n'));
    assert.equal(slot.armed, true);
    assert.equal(w.activeOpen, 1);
    w.releaseActive(slot);
    assert.equal(w.activeOpen, 0);
  });

  test('random bytes in random chunks, both ways, never throw', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ maxLength: 300 })), { maxLength: 20 }), (chunks) => {
        const w = new FtpWatch('127.0.0.1');
        w.fromServer(b('220 hi\r\n'));
        for (const [fromServer, bytes] of chunks) {
          if (fromServer) w.fromServer(Buffer.from(bytes));
          else w.fromClient(Buffer.from(bytes));
        }
        w.takePassive(2000);
      }),
      { numRuns: 500 },
    );
  });
});
