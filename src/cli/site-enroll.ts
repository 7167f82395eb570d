// `insel site enroll --hq HOST:PORT --code C --dir DIR`: a new site gateway
// joins the organization. The key is made here (DIR/identity/key.pem, 0600)
// and never sent; HQ signs the CSR after checking the code; a starter
// site.toml names the site (from the certificate) and HQ.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { formatHostPort, parseHostPort } from '../net/host-port.js';
import { writeFileAtomic, PUBLIC_MODE } from '../pki/store.js';
import { enrollWithCode } from '../org/enroll/client.js';
import { DEFAULT_HQ_PORT } from '../org/hq/config.js';

const out = (line: string) => process.stdout.write(`${line}\n`);

/** The `site` command group: created by whichever of site.ts and this file registers first. */
export function siteCommand(program: Command): Command {
  return program.commands.find((c) => c.name() === 'site') ?? program.command('site').description('a site gateway of the organization');
}

export function starterSiteConfig(name: string, hq: string): string {
  return [
    `# site gateway ${name} (insel site run --dir DIR); see docs/PROTOCOL.md §7.3, §7.6`,
    `name = ${JSON.stringify(name)}`,
    `hq = ${JSON.stringify(hq)}`,
    '# the site gateway TLS port (users and other sites)',
    'listen = "0.0.0.0:7444"',
    '# what other sites dial (default: listen)',
    '# public = "site.example.com:7444"',
    'profile = "identity"',
    '',
  ].join('\n');
}

export function registerSiteEnroll(program: Command): void {
  siteCommand(program)
    .command('enroll')
    .description("enroll this site with HQ using the code from insel hq site add (the key never leaves this machine)")
    .requiredOption('--hq <host:port>', `HQ's address (port default ${DEFAULT_HQ_PORT})`)
    .requiredOption('--code <code>', 'the enrollment code (insel-…)')
    .requiredOption('--dir <dir>', 'the site directory: identity/ and site.toml are written here')
    .option('--force', 'replace an existing identity in DIR/identity')
    .action(async (o: { hq: string; code: string; dir: string; force?: boolean }) => {
      const server = parseHostPort(o.hq.includes(':') ? o.hq : `${o.hq}:${DEFAULT_HQ_PORT}`, '--hq');
      const dir = resolve(o.dir);
      const r = await enrollWithCode({ server, code: o.code, dir: join(dir, 'identity'), role: 'site', force: o.force === true });
      out(`enrolled site ${r.identity.name} of org ${JSON.stringify(r.identity.org)}: wrote ${r.files.cert}, ${r.files.key} (mode 0600), ${r.files.ca}`);
      const config = join(dir, 'site.toml');
      if (existsSync(config)) {
        out(`kept ${config}`);
        return;
      }
      writeFileAtomic(config, starterSiteConfig(r.identity.name, formatHostPort(server.host, server.port)), { mode: PUBLIC_MODE, force: false });
      out(`wrote ${config}; add [[service]] entries, then: insel site run --dir ${o.dir}`);
    });
}
