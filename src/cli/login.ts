// `insel login --site HOST:PORT --code C [--profile DIR]`: enrolls this
// machine's user with a code from `insel site user add` (org/client/login.ts).
// `insel renew [--profile DIR]`: a new key and certificate for that user
// from the root that signs now, e.g. after `insel hq ca rollover`
// (org/client/renew.ts).
import type { Command } from 'commander';
import { DEFAULT_SITE_LISTEN } from '../org/site/config.js';
import { login } from '../org/client/login.js';
import { loadUserProfile, profileDir } from '../org/client/profile.js';
import { renewCertificate } from '../org/client/renew.js';
import { hostPortArg } from './org-args.js';

const SITE_PORT = Number(DEFAULT_SITE_LISTEN.split(':')[1]);

export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('enroll as a user of your site with the code your site admin gave you (the key never leaves this machine)')
    .requiredOption('--site <host:port>', `your site gateway (port default ${SITE_PORT})`)
    .requiredOption('--code <code>', 'the enrollment code (insel-…)')
    .option('--profile <dir>', 'where to keep your identity (default ~/.insel)')
    .option('--force', 'replace an identity already in the profile')
    .action(async (o: { site: string; code: string; profile?: string; force?: boolean }) => {
      const dir = profileDir(o.profile);
      const id = await login({ site: hostPortArg(o.site, '--site', SITE_PORT), code: o.code, dir, force: o.force === true });
      process.stdout.write(`logged in as ${id.name} of site ${id.site ?? '?'} (groups ${id.groups.join(', ') || 'none'}); profile ${dir}\nnext: insel services${o.profile === undefined ? '' : ` --profile ${o.profile}`}\n`);
    });

  program
    .command('renew')
    .description('renew your certificate with a new key from the root CA that signs now (after a CA rollover, before the old root is retired)')
    .option('--profile <dir>', 'your profile (default ~/.insel)')
    .action(async (o: { profile?: string }) => {
      const dir = profileDir(o.profile);
      const id = await renewCertificate(loadUserProfile(dir), (line) => void process.stderr.write(`insel: ${line}\n`));
      process.stdout.write(`renewed: ${id.name} of site ${id.site ?? '?'} (groups ${id.groups.join(', ') || 'none'}), certificate ${id.serial}; profile ${dir}\n`);
    });
}
