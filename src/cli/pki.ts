// `insel pki …`: create and run the PKI directory. Each command prints one
// line saying what it did and which files it wrote; notes that need action
// (a still-valid old certificate, a CRL to hand out) go to stderr.
import { exportProfile } from '../pki/export.js';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ROLES, type Role } from '../pki/identity.js';
import { initCa } from '../pki/ca.js';
import { issueCert } from '../pki/issue.js';
import { revoke, writeCrl, type WriteCrlResult } from '../pki/crl.js';
import { listCerts, type CertRow } from '../pki/list.js';
import { retireCa, rolloverCa } from '../pki/rollover.js';
import { CRL_REASONS } from '../pki/trust.js';

const out = (line: string) => process.stdout.write(`${line}\n`);
const note = (line: string) => process.stderr.write(`insel: note: ${line}\n`);

/** --dir, else $INSEL_PKI_DIR, else ./pki */
export function pkiDir(dir: string | undefined): string {
  return dir ?? (process.env.INSEL_PKI_DIR || './pki');
}

export function parseDays(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 36500) throw new InvalidArgumentError('use a whole number of days from 1 to 36500');
  return n;
}

function parseGeneration(value: string): number {
  if (!/^[1-9]\d{0,5}$/.test(value)) throw new InvalidArgumentError('use the generation number the rollover printed (1, 2, …)');
  return Number(value);
}

const dirOption = () => new Option('--dir <dir>', 'PKI directory (default: $INSEL_PKI_DIR, else ./pki)');
const day = (iso: string | Date) => (typeof iso === 'string' ? iso : iso.toISOString()).slice(0, 10);

function crlLine(r: WriteCrlResult): string {
  return `wrote ${r.file} (CRLs of ${r.crls.map((c) => `${c.ca !== 'root' ? `site CA ${c.ca}` : c.generation === undefined ? 'the root CA' : `root CA ${c.generation}`}: ${c.revoked} revoked`).join('; ')})`;
}

function crlNotes(r: WriteCrlResult): void {
  for (const s of r.skipped) note(`no CRL written for site CA ${s.site}: ${s.why}`);
}

export function registerPki(program: Command): void {
  const pki = program.command('pki').description('create a CA and issue, revoke and list certificates');

  pki
    .command('init')
    .description('create the root CA of a new PKI directory')
    .addOption(dirOption())
    .requiredOption('--org <name>', 'organisation name, carried by every certificate')
    .option('--days <n>', 'root CA validity in days (default 3650)', parseDays)
    .option('--force', 'overwrite an existing CA (every certificate it issued stops being trusted)')
    .action(async (o: { dir?: string; org: string; days?: number; force?: boolean }) => {
      const r = await initCa({ dir: pkiDir(o.dir), org: o.org, ...(o.days ? { days: o.days } : {}), force: o.force === true });
      const p = r.paths;
      out(`created root CA of org ${JSON.stringify(o.org)} (serial ${r.serial}, valid until ${day(r.notAfter)}): wrote ${p.caCert}, ${p.caKey} (mode 0600), ${p.index}, ${p.crl}`);
    });

  pki
    .command('issue')
    .description('issue a certificate and its private key')
    .addOption(dirOption())
    .addOption(new Option('--role <role>', 'what the holder is').choices(ROLES).makeOptionMandatory())
    .requiredOption('--name <name>', 'unique name: also the file name under certs/ and private/')
    .option('--site <site>', 'the site the holder belongs to')
    .option('--group <group...>', 'groups the holder belongs to (repeatable)')
    .option('--grant <group...>', 'for a site CA: a group it may grant to the certificates it issues (repeatable; default none)')
    .option('--host <name...>', 'DNS names or IPs this server answers on, for standard TLS clients such as curl (repeatable)')
    .option('--days <n>', 'validity in days (default 365, site CAs 1825)', parseDays)
    .option('--ca <site>', 'sign with this site CA instead of the root (user and client certificates only)')
    .option('--force', 'replace an existing certificate and key of that name')
    .action(async (o: { dir?: string; role: Role; name: string; site?: string; group?: string[]; grant?: string[]; host?: string[]; days?: number; ca?: string; force?: boolean }) => {
      const dir = pkiDir(o.dir);
      const r = await issueCert({
        dir,
        role: o.role,
        name: o.name,
        ...(o.site === undefined ? {} : { site: o.site }),
        groups: o.group ?? [],
        grants: o.grant ?? [],
        hosts: o.host ?? [],
        ...(o.days === undefined ? {} : { days: o.days }),
        ...(o.ca === undefined ? {} : { ca: o.ca }),
        force: o.force === true,
      });
      const rec = r.record;
      const by = rec.issuer === 'root' ? 'the root CA' : `site CA ${rec.issuer}`;
      const key = r.keptKey ? `kept its CA key ${r.keyFile}` : `${r.keyFile} (mode 0600)`;
      const grants = rec.grants ? `, may grant ${rec.grants.join(', ')}` : '';
      out(`issued ${rec.role} ${rec.name}${rec.site ? ` of site ${rec.site}` : ''}${grants} (serial ${rec.serial}, valid until ${day(rec.notAfter)}, signed by ${by}): wrote ${r.certFile}, ${key}`);
      if (r.previous) {
        note(`the previous certificate of ${rec.name} (serial ${r.previous.serial}) stays valid until ${day(r.previous.notAfter)}; revoke it if its key may be compromised: insel pki revoke ${r.previous.serial} --dir ${dir}`);
      }
    });

  pki
    .command('revoke')
    .description('revoke every certificate of a name, or one by serial, and rewrite crl.pem')
    .argument('<name|serial>', 'certificate name or serial (hex)')
    .addOption(dirOption())
    .addOption(new Option('--reason <reason>', 'CRL reason').choices(CRL_REASONS).default('unspecified'))
    .action(async (nameOrSerial: string, o: { dir?: string; reason: string }) => {
      const r = await revoke({ dir: pkiDir(o.dir), nameOrSerial, reason: o.reason });
      const what = r.revoked.map((c) => `${c.role} ${c.name} (serial ${c.serial})`).join(', ');
      out(`${r.revoked.length > 0 ? `revoked ${what}, reason ${o.reason}` : 'nothing new to revoke'}; ${crlLine(r.crl)}`);
      for (const c of r.already) note(`${c.name} (serial ${c.serial}) was already revoked on ${c.revoked?.at}`);
      if (r.dependents.length > 0) note(`these certificates of the revoked site CA are refused from now on too: ${r.dependents.map((c) => c.name).join(', ')}`);
      if (r.revoked.length > 0) note(`copy ${r.crl.file} to every end that verifies peers (identity crl), or they keep accepting the revoked certificate`);
      crlNotes(r.crl);
    });

  pki
    .command('crl')
    .description('re-sign the CRLs of every CA and rewrite crl.pem')
    .addOption(dirOption())
    .action(async (o: { dir?: string }) => {
      const r = await writeCrl({ dir: pkiDir(o.dir) });
      out(crlLine(r));
      crlNotes(r);
    });

  pki
    .command('rollover')
    .description('create a new root CA beside the old one: it signs from now on, ca.crt trusts both until the old one is retired')
    .addOption(dirOption())
    .option('--days <n>', 'new root CA validity in days (default 3650)', parseDays)
    .action(async (o: { dir?: string; days?: number }) => {
      const r = await rolloverCa({ dir: pkiDir(o.dir), ...(o.days ? { days: o.days } : {}) });
      out(`created root CA ${r.root.generation} (serial ${r.root.serial}, valid until ${day(r.root.notAfter)}); ${r.bundle} now trusts root CAs ${live(r.roots)}; ${crlLine(r.crl)}`);
      note(`copy ${r.bundle} (as ca.pem) and ${r.crl.file} to every end; re-issue certificates as they renew, then retire the old root: insel pki retire --generation ${r.root.generation - 1}`);
    });

  pki
    .command('retire')
    .description('stop trusting an old root CA (after a rollover): drop it from ca.crt and crl.pem')
    .addOption(dirOption())
    .option('--generation <n>', 'root CA generation (see the rollover output)', parseGeneration)
    .option('--serial <hex>', 'root CA serial')
    .action(async (o: { dir?: string; generation?: number; serial?: string }) => {
      const r = await retireCa({ dir: pkiDir(o.dir), ...(o.generation === undefined ? {} : { generation: o.generation }), ...(o.serial === undefined ? {} : { serial: o.serial }) });
      out(`retired root CA ${r.root.generation} (serial ${r.root.serial}); ${r.bundle} now trusts root CAs ${live(r.roots)}; ${crlLine(r.crl)}`);
      if (r.refused.length > 0) note(`these still-valid certificates chain to the retired root and are refused from now on: ${r.refused.map((c) => c.name).join(', ')}`);
      note(`copy ${r.bundle} (as ca.pem) and ${r.crl.file} to every end`);
    });

  pki
    .command('export')
    .description('write the files one end needs (cert.pem, key.pem, ca.pem, crl.pem) into a profile directory')
    .argument('<name>', 'certificate name')
    .requiredOption('--out <dir>', 'profile directory to write (key.pem gets mode 0600)')
    .addOption(dirOption())
    .option('--force', 'overwrite existing files')
    .action((name: string, o: { dir?: string; out: string; force?: boolean }) => {
      const r = exportProfile({ dir: pkiDir(o.dir), name, out: o.out, force: o.force === true });
      out(`wrote ${r.files.join(', ')} to ${r.dir}; use it with --profile ${r.dir} or profile = "${r.dir}"`);
    });

  pki
    .command('list')
    .description('list every certificate issued, with its status')
    .addOption(dirOption())
    .option('--json', 'print JSON instead of a table')
    .action((o: { dir?: string; json?: boolean }) => {
      const rows = listCerts({ dir: pkiDir(o.dir) });
      out(o.json ? JSON.stringify(rows, null, 2) : table(rows));
    });
}

function live(roots: readonly { generation: number; retired?: string }[]): string {
  return roots.filter((x) => x.retired === undefined).map((x) => x.generation).join(', ');
}

function table(rows: readonly CertRow[]): string {
  const head = ['NAME', 'ROLE', 'SITE', 'GROUPS', 'GRANTS', 'SERIAL', 'NOT-AFTER', 'STATUS'];
  const names = (list: readonly string[] | undefined) => (list?.length ? list.join(',') : '-');
  const cells = rows.map((r) => [r.name, r.role, r.site ?? '-', names(r.groups), names(r.grants), r.serial, day(r.notAfter), r.status + (r.note ? ` (${r.note})` : '')]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: readonly string[]) => c.map((v, i) => v.padEnd(widths[i] as number)).join('  ').trimEnd();
  return [line(head), ...cells.map(line)].join('\n') + (rows.length === 0 ? '\n(no certificates issued yet)' : '');
}
