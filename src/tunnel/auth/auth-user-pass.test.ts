import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../../config/errors.js';
import { setUserPassword } from './auth-users-file.js';
import { passwordCheck, readClientCredentials } from './auth-user-pass.js';

const dir = mkdtempSync(join(tmpdir(), 'insel-auth-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const path = (name: string) => join(dir, `${n++}-${name}`);
const who = { commonName: 'alice-laptop', ip: '192.0.2.7', port: 40000 };
/** Every reason and message is checked for it. */
const SECRET = 'hunter2-SECRET';
const reasons: string[] = [];
const noSecret = (s: string | undefined) => {
  if (s !== undefined) reasons.push(s);
  return s;
};
after(() => assert.ok(reasons.length > 10 && reasons.every((r) => !r.includes(SECRET)), 'a reason quoted the password'));

function script(body: string): string {
  const file = path('verify.sh');
  writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await sleep(10);
  assert.ok(cond(), 'condition not reached');
}

describe('auth-users password file', () => {
  it('accepts the right password only; picks up changes; unknown users are refused alike', async () => {
    const file = path('users');
    assert.equal(await setUserPassword(file, 'alice', SECRET), 'added');
    assert.equal(await setUserPassword(file, 'bob', 'bobs password'), 'added');
    const check = passwordCheck({ authUsers: file })!;
    assert.equal(noSecret(await check('alice', SECRET, who)), undefined);
    assert.equal(noSecret(await check('alice', 'wrong', who)), 'wrong username or password');
    assert.equal(noSecret(await check('carol', SECRET, who)), 'wrong username or password');
    assert.equal(await setUserPassword(file, 'alice', 'new one'), 'replaced');
    assert.equal(noSecret(await check('alice', SECRET, who)), 'wrong username or password');
    assert.equal(await check('alice', 'new one', who), undefined);
    assert.equal(await check('bob', 'bobs password', who), undefined);
    assert.match(readFileSync(file, 'utf8'), /^alice:scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+\nbob:scrypt\$/);
  });

  it('refuses credentials out of bounds before any work, without quoting them', async () => {
    const file = path('users');
    await setUserPassword(file, 'alice', SECRET);
    const check = passwordCheck({ authUsers: file })!;
    assert.equal(noSecret(await check('alice', `${SECRET}\n`, who)), 'the password has control characters');
    assert.equal(noSecret(await check('alice', SECRET.repeat(20), who)), 'the password is longer than 256 bytes');
    assert.equal(noSecret(await check('', SECRET, who)), 'the username is empty');
    assert.equal(noSecret(await check('al\u0000ice', SECRET, who)), 'the username has control characters');
  });

  it('refuses at start a file open to others, or malformed, naming file:line', async () => {
    const open = path('users');
    await setUserPassword(open, 'alice', SECRET);
    chmodSync(open, 0o644);
    assert.throws(() => passwordCheck({ authUsers: open }), (e: Error) => e instanceof ConfigError && e.message === `password file ${open} is open to others (mode 0644); it holds secrets: chmod 600 ${open}`);
    const cases: [string, RegExp][] = [
      ['alice\n', /:1: expected name:scrypt/],
      ['# c\nalice:scrypt$1$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==\n', /:2: the hash of "alice" is not scrypt/],
      ['alice:scrypt$4194304$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==\n', /:1: the hash of "alice" is not scrypt.*within our cost bounds/],
      ['alice:md5$x\n', /:1: the hash of "alice"/],
      ['a\u0001b:scrypt$2$1$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==\n', /:1: the username has control characters/],
    ];
    for (const [text, re] of cases) {
      const file = path('users');
      writeFileSync(file, text, { mode: 0o600 });
      assert.throws(() => passwordCheck({ authUsers: file }), (e: Error) => e instanceof ConfigError && e.message.startsWith(file) && re.test(e.message), text);
    }
    const dup = path('users');
    await setUserPassword(dup, 'alice', SECRET);
    writeFileSync(dup, readFileSync(dup, 'utf8').repeat(2));
    assert.throws(() => passwordCheck({ authUsers: dup }), /:2: "alice" is listed twice/);
  });

  it('a file broken while running refuses logins, with a reason', async () => {
    const file = path('users');
    await setUserPassword(file, 'alice', SECRET);
    const check = passwordCheck({ authUsers: file })!;
    writeFileSync(file, 'garbage line that is longer\n');
    assert.match(noSecret(await check('alice', SECRET, who))!, /^the server's password file is unusable \(.*:1: expected name:scrypt/);
  });
});

describe('auth-user-pass-verify', () => {
  const accept = `[ "$username" = alice ] && [ "$password" = '${SECRET}' ] && [ "$common_name" = alice-laptop ] && [ "$untrusted_ip" = 192.0.2.7 ] && [ "$untrusted_port" = 40000 ] && [ "$script_type" = user-pass-verify ]`;

  it('via-env: exit 0 accepts, anything else refuses', async () => {
    const check = passwordCheck({ authUserPassVerify: { script: script(accept), method: 'via-env' } })!;
    assert.equal(noSecret(await check('alice', SECRET, who)), undefined);
    assert.equal(noSecret(await check('alice', 'wrong', who)), 'refused by the auth-user-pass-verify script (exit 1)');
  });

  it('via-file: a 0600 file with two lines as the last argument, deleted afterwards; no password in the environment', async () => {
    const seen = path('seen');
    const body = `[ "$1" = extra-arg ] || exit 9; f=$2; echo "$f" > ${seen}; stat -c %a "$f" >> ${seen}; [ -z "$password" ] && [ "$username" = alice ] && [ "$(sed -n 1p "$f")" = alice ] && [ "$(sed -n 2p "$f")" = '${SECRET}' ] && [ "$(wc -l < "$f")" = 2 ]`;
    const check = passwordCheck({ authUserPassVerify: { script: `${script(body)} extra-arg`, method: 'via-file' } })!;
    assert.equal(noSecret(await check('alice', SECRET, who)), undefined);
    const [file, mode] = readFileSync(seen, 'utf8').trim().split('\n');
    assert.equal(mode, '600');
    assert.equal(existsSync(file!), false, 'the credentials file is deleted');
    assert.equal(noSecret(await check('alice', 'wrong', who)), 'refused by the auth-user-pass-verify script (exit 1)');
    assert.ok(!readdirSync(tmpdir()).some((f) => f.startsWith('insel-auth-') && existsSync(join(tmpdir(), f, 'up'))));
  });

  it('a script that hangs is killed and refused; one that crashes or cannot run is refused', async () => {
    const hang = passwordCheck({ authUserPassVerify: { script: script('exec sleep 30'), method: 'via-env' } }, { timeoutMs: 200 })!;
    assert.equal(noSecret(await hang('alice', SECRET, who)), 'the auth-user-pass-verify script did not answer within 0.2 s');
    const crash = passwordCheck({ authUserPassVerify: { script: script('kill -SEGV $$'), method: 'via-env' } })!;
    assert.equal(noSecret(await crash('alice', SECRET, who)), 'the auth-user-pass-verify script died (SIGSEGV)');
    const missing = passwordCheck({ authUserPassVerify: { script: join(dir, 'no-such-script'), method: 'via-file' } })!;
    assert.equal(noSecret(await missing('alice', SECRET, who)), 'the auth-user-pass-verify script could not run (ENOENT)');
  });

  it('runs at most `concurrency` scripts, queues `queue` more and refuses beyond', async () => {
    const marks = path('marks');
    const go = path('go');
    const body = `mkdir -p ${marks}; touch ${marks}/$$; i=0; while [ ! -e ${go} ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done; true`;
    const check = passwordCheck({ authUserPassVerify: { script: script(body), method: 'via-env' } }, { concurrency: 2, queue: 1 })!;
    const running = [1, 2, 3].map(() => check('alice', SECRET, who));
    assert.equal(noSecret(await check('alice', SECRET, who)), 'too many logins are being checked at once; try again shortly');
    await until(() => existsSync(marks) && readdirSync(marks).length === 2);
    writeFileSync(go, '');
    assert.deepEqual(await Promise.all(running), [undefined, undefined, undefined]);
    assert.equal(readdirSync(marks).length, 3);
  });

  it('with a password file too, both must accept', async () => {
    const file = path('users');
    await setUserPassword(file, 'alice', SECRET);
    const check = passwordCheck({ authUsers: file, authUserPassVerify: { script: script('[ "$username" != alice ]'), method: 'via-env' } })!;
    assert.equal(noSecret(await check('alice', SECRET, who)), 'refused by the auth-user-pass-verify script (exit 1)');
  });

  it('no check configured: undefined', () => {
    assert.equal(passwordCheck({}), undefined);
  });
});

describe('client auth-user-pass FILE', () => {
  it('reads username and password lines from a private file', () => {
    const file = path('up');
    writeFileSync(file, `alice\n${SECRET}\n`, { mode: 0o600 });
    assert.deepEqual(readClientCredentials(file), { user: 'alice', password: SECRET });
    writeFileSync(file, `alice\r\n${SECRET}`);
    assert.deepEqual(readClientCredentials(file), { user: 'alice', password: SECRET });
  });

  it('refuses an open file, a missing line, bad fields, never quoting the password', () => {
    const cases: [string, number, RegExp][] = [
      [`alice\n${SECRET}\n`, 0o644, /is open to others \(mode 0644\); it holds secrets: chmod 600/],
      ['alice', 0o600, /:2: the password line is missing/],
      [`\n${SECRET}\n`, 0o600, /:1: the username is empty/],
      [`alice\n${SECRET}\u0007\n`, 0o600, /:2: the password has control characters/],
      [`alice\n${SECRET.repeat(30)}\n`, 0o600, /:2: the password is longer than 256 bytes/],
    ];
    for (const [text, mode, re] of cases) {
      const file = path('up');
      writeFileSync(file, text, { mode });
      assert.throws(
        () => readClientCredentials(file),
        (e: Error) => e instanceof ConfigError && re.test(e.message) && noSecret(e.message) !== undefined,
      );
    }
  });
});
