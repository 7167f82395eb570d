// `insel pki …` end to end: the built CLI in a temp directory, checking its
// one-line output, exit codes, error lines and file modes.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const cwd = mkdtempSync(join(tmpdir(), 'insel-cli-'));
after(() => rmSync(cwd, { recursive: true, force: true }));

function insel(args: string[], env: Record<string, string | undefined> = {}): { status: number | null; stdout: string; stderr: string } {
  const { INSEL_PKI_DIR: _, ...base } = process.env;
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd, env: { ...base, ...env }, encoding: 'utf8' });
  // a private key must never reach the terminal
  assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY/);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(args: string[], env: Record<string, string | undefined> = {}): string {
  const r = insel(args, env);
  assert.equal(r.status, 0, `insel ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

function fails(args: string[], stderr: RegExp): void {
  const r = insel(args);
  assert.equal(r.status, 1, `insel ${args.join(' ')} should fail: ${r.stdout}`);
  assert.match(r.stderr, stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

const mode = (f: string) => statSync(join(cwd, f)).mode & 0o777;

describe('insel pki', () => {
  it('init creates a CA; a second init needs --force', () => {
    const out = ok(['pki', 'init', '--dir', 'p', '--org', 'Acme Corp']);
    assert.match(out, /^created root CA of org "Acme Corp" \(serial [0-9a-f]+, valid until \d{4}-\d\d-\d\d\): wrote p\/ca\.crt, p\/ca\.key \(mode 0600\), p\/index\.json, p\/crl\.pem\n$/);
    assert.equal(mode('p/ca.key'), 0o600);
    assert.equal(mode('p/private'), 0o700);
    fails(['pki', 'init', '--dir', 'p', '--org', 'Acme Corp'], /^insel: p\/ca\.key already exists; pass --force to overwrite it\n$/);
  });

  it('issues certificates, by the root and by a site CA', () => {
    const alice = ok(['pki', 'issue', '--dir', 'p', '--role', 'user', '--name', 'alice', '--group', 'ops', '--group', 'dev', '--days', '30']);
    assert.match(alice, /^issued user alice \(serial [0-9a-f]+, valid until \d{4}-\d\d-\d\d, signed by the root CA\): wrote p\/certs\/alice\.crt, p\/private\/alice\.key \(mode 0600\)\n$/);
    assert.equal(mode('p/private/alice.key'), 0o600);
    ok(['pki', 'issue', '--dir', 'p', '--role', 'site', '--name', 'branch']);
    const bob = ok(['pki', 'issue', '--dir', 'p', '--role', 'user', '--name', 'bob', '--ca', 'branch']);
    assert.match(bob, /^issued user bob of site branch \(.*signed by site CA branch\)/);
    assert.equal(readFileSync(join(cwd, 'p/certs/bob.crt'), 'utf8').match(/BEGIN CERTIFICATE/g)?.length, 2);

    fails(['pki', 'issue', '--dir', 'p', '--role', 'user', '--name', 'alice'], /^insel: p\/certs\/alice\.crt already exists; pass --force to overwrite it\n$/);
    fails(['pki', 'issue', '--dir', 'p', '--role', 'server', '--name', 'x', '--ca', 'branch'], /a site CA may only issue user and client certificates, not server/);
    fails(['pki', 'issue', '--dir', 'p', '--role', 'admin', '--name', 'x'], /argument 'admin' is invalid. Allowed choices are hq, site, user, server, client/);
    fails(['pki', 'issue', '--dir', 'p', '--role', 'user', '--name', 'x', '--days', 'ten'], /--days.*whole number of days/);
    fails(['pki', 'issue', '--dir', 'nowhere', '--role', 'user', '--name', 'x'], /^insel: PKI index nowhere\/index\.json does not exist; .*insel pki init --dir nowhere/);

    const again = insel(['pki', 'issue', '--dir', 'p', '--role', 'user', '--name', 'alice', '--force']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /note: the previous certificate of alice \(serial [0-9a-f]+\) stays valid until .*insel pki revoke [0-9a-f]+ --dir p/);
  });

  it('lets the root choose the groups a site CA may grant; refuses others up front', () => {
    ok(['pki', 'init', '--dir', 'g', '--org', 'G']);
    ok(['pki', 'issue', '--dir', 'g', '--role', 'site', '--name', 'branch']);
    const site = ok(['pki', 'issue', '--dir', 'g', '--role', 'site', '--name', 'shop', '--grant', 'staff', '--grant', 'sales']);
    assert.match(site, /^issued site shop of site shop, may grant staff, sales \(/);
    assert.match(ok(['pki', 'issue', '--dir', 'g', '--role', 'user', '--name', 'sam', '--ca', 'shop', '--group', 'sales']), /^issued user sam of site shop/);
    fails(
      ['pki', 'issue', '--dir', 'g', '--role', 'user', '--name', 'eve', '--ca', 'shop', '--group', 'admins'],
      /^insel: --group admins: site CA shop may not grant group admins \(it may grant only staff, sales\); issue the certificate from the root CA \(without --ca\), or let the site grant the group: insel pki issue --role site --name shop --grant admins --force\n$/,
    );
    fails(['pki', 'issue', '--dir', 'g', '--role', 'user', '--name', 'eve', '--ca', 'branch', '--group', 'staff'], /site CA branch may not grant group staff \(it may grant no groups\)/);
    fails(['pki', 'issue', '--dir', 'g', '--role', 'user', '--name', 'eve', '--grant', 'staff'], /--grant is for site certificates only/);
    const line = ok(['pki', 'list', '--dir', 'g']).split('\n').find((l) => l.startsWith('shop '));
    assert.match(line ?? '', /^shop\s+site\s+shop\s+-\s+staff,sales\s/);
    const rows = JSON.parse(ok(['pki', 'list', '--dir', 'g', '--json'])) as { name: string; grants?: string[] }[];
    assert.deepEqual(rows.find((r) => r.name === 'shop')?.grants, ['staff', 'sales']);
  });

  it('revokes, rewrites the CRL and lists', () => {
    const out = ok(['pki', 'revoke', 'bob', '--dir', 'p', '--reason', 'keyCompromise']);
    assert.match(out, /^revoked user bob \(serial [0-9a-f]+\), reason keyCompromise; wrote p\/crl\.pem \(CRLs of the root CA: 0 revoked; site CA branch: 1 revoked\)\n$/);
    fails(['pki', 'revoke', 'nobody', '--dir', 'p'], /no certificate named or with serial "nobody"/);
    assert.match(ok(['pki', 'crl', '--dir', 'p']), /^wrote p\/crl\.pem \(CRLs of the root CA: 0 revoked; site CA branch: 1 revoked\)\n$/);

    const table = ok(['pki', 'list', '--dir', 'p']).trimEnd().split('\n');
    assert.match(table[0]!, /^NAME\s+ROLE\s+SITE\s+GROUPS\s+GRANTS\s+SERIAL\s+NOT-AFTER\s+STATUS$/);
    assert.deepEqual(table.slice(1).map((l) => [l.split(/\s+/)[0], l.split(/\s+/)[7]]), [
      ['alice', 'valid'],
      ['branch', 'valid'],
      ['bob', 'revoked'],
      ['alice', 'valid'],
    ]);
    const rows = JSON.parse(ok(['pki', 'list', '--dir', 'p', '--json'])) as { name: string; status: string; groups: string[] }[];
    assert.deepEqual(rows[0]?.groups, ['ops', 'dev']);
    assert.equal(rows.find((r) => r.name === 'bob')?.status, 'revoked');
  });

  it('export creates its directory 0700; never changes the mode of an existing one, and refuses one others can access', () => {
    assert.match(ok(['pki', 'export', 'alice', '--dir', 'p', '--out', 'prof/new']), /^wrote cert\.pem, key\.pem, ca\.pem, crl\.pem to prof\/new;/);
    assert.equal(mode('prof/new'), 0o700);
    assert.equal(mode('prof/new/key.pem'), 0o600);
    mkdirSync(join(cwd, 'mine'), { mode: 0o700 });
    ok(['pki', 'export', 'alice', '--dir', 'p', '--out', 'mine']);
    assert.equal(mode('mine'), 0o700);
    for (const shared of [0o1777, 0o750]) {
      const dir = `shared-${shared.toString(8)}`;
      mkdirSync(join(cwd, dir));
      chmodSync(join(cwd, dir), shared); // like /tmp: sticky, world-writable
      fails(
        ['pki', 'export', 'alice', '--dir', 'p', '--out', dir],
        new RegExp(`^insel: --out ${dir} exists and group or others can access it \\(mode ${shared.toString(8).padStart(4, '0')}\\); .*choose a new directory \\(insel creates it with mode 0700\\), or make this one private yourself \\(chmod 700 ${dir}\\)\n$`),
      );
      assert.equal(statSync(join(cwd, dir)).mode & 0o7777, shared, 'its mode is left alone');
      assert.deepEqual(readdirSync(join(cwd, dir)), [], 'nothing written into it');
    }
  });

  it('takes the directory from $INSEL_PKI_DIR, else ./pki', () => {
    assert.match(ok(['pki', 'init', '--org', 'E'], { INSEL_PKI_DIR: 'from-env' }), /wrote from-env\/ca\.crt/);
    assert.match(ok(['pki', 'init', '--org', 'D']), /wrote pki\/ca\.crt/);
    assert.match(ok(['pki', 'list'], { INSEL_PKI_DIR: 'from-env' }), /no certificates issued yet/);
  });

  it('rolls the root CA over and retires the old one', () => {
    ok(['pki', 'init', '--dir', 'r', '--org', 'Roll']);
    ok(['pki', 'issue', '--dir', 'r', '--role', 'user', '--name', 'old']);
    const r = insel(['pki', 'rollover', '--dir', 'r']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^created root CA 2 \(serial [0-9a-f]+, valid until [-\d]+\); r\/ca\.crt now trusts root CAs 1, 2; wrote r\/crl\.pem \(CRLs of root CA 1: 0 revoked; root CA 2: 0 revoked\)\n$/);
    assert.match(r.stderr, /insel pki retire --generation 1/);
    assert.equal(mode('r/ca-2.key'), 0o600);
    fails(['pki', 'retire', '--dir', 'r', '--generation', '2'], /^insel: root CA 2 \(serial [0-9a-f]+\) is the newest/);
    fails(['pki', 'retire', '--dir', 'r', '--generation', 'x'], /generation/);
    const retired = insel(['pki', 'retire', '--dir', 'r', '--generation', '1']);
    assert.equal(retired.status, 0, retired.stderr);
    assert.match(retired.stdout, /^retired root CA 1 \(serial [0-9a-f]+\); r\/ca\.crt now trusts root CAs 2; wrote r\/crl\.pem \(CRLs of root CA 2: 0 revoked\)\n$/);
    assert.match(retired.stderr, /refused from now on: old/);
  });
});
