#!/usr/bin/env node
// The `insel` command: one subcommand per capability. Each src/cli/<cmd>.ts
// registers itself here; errors become one clear line and exit code 1.
import { Command } from 'commander';
import { InselError } from '../errors.js';
import { registerPki } from './pki.js';
import { registerGenkey } from './genkey.js';
import { registerQuickstart } from './quickstart.js';
import { registerGateway } from './gateway.js';
import { registerForward } from './forward.js';
import { registerTunnel } from './tunnel.js';
import { registerVerify } from './verify.js';
import { registerStatus } from './status.js';
import { registerHq } from './hq.js';
import { registerSiteEnroll } from './site-enroll.js';
import { registerOrgClient } from './org-client.js';
import { registerSite } from './site.js';
import { registerLogin } from './login.js';
import { registerCall } from './call.js';

const program = new Command();
program
  .name('insel')
  .description('insel: a VPN toolkit (PKI, secure channels over TCP and UDP, service tunnels, IP tunnel)')
  .version('0.1.0')
  .showHelpAfterError();

registerPki(program);
registerGenkey(program);
registerQuickstart(program);
registerGateway(program);
registerForward(program);
registerTunnel(program);
registerVerify(program);
registerStatus(program);
registerHq(program);
registerSiteEnroll(program);
registerOrgClient(program);
registerSite(program);
registerLogin(program);
registerCall(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof InselError) {
    process.stderr.write(`insel: ${err.message}\n`);
  } else {
    process.stderr.write(`insel: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  process.exit(1);
});
