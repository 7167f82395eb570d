// `insel call`, `insel agent`, `insel answer` (seed 000 §6, docs/PROTOCOL.md §7.4):
// a user's calls through its own site gateway (the profile's site.json).
//   insel agent                          prints each invitation: "call ID from alice@a: insel answer ID --local-port Q"
//   insel call bob@b --local-port P      rings bob; datagrams sent to P go to bob once he answers
//   insel answer ID --local-port Q       joins; datagrams sent to Q go to the caller
// A call ends when either side stops (Ctrl-C) or the other side's end; the
// datagrams are relayed by both site gateways, encrypted between them.
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { ForwardSession } from '../forward/session.js';
import { DEFAULT_BIND } from '../net/host-port.js';
import { loadUserProfile, profileDir, type UserProfile } from '../org/client/profile.js';
import { openSiteSession } from '../org/client/session.js';
import { agent, checkAnswer, invite, openUdp } from '../org/call/client.js';
import { splitUser } from '../org/call/hq-calls.js';

interface CallFlags {
  profile?: string;
  localPort?: string;
  bind: string;
  verbose?: boolean;
}

const say = (line: string) => void process.stdout.write(`${line}\n`);
const warn = (cmd: string) => (line: string) => void process.stderr.write(`insel ${cmd}: ${line}\n`);

export function registerCall(program: Command): void {
  program
    .command('call')
    .description('call a user of the organization: datagrams sent to --local-port go to them once they answer')
    .argument('<user>', 'name@site, e.g. bob@branch')
    .requiredOption('--local-port <port>', 'the local UDP port your program sends to (0: a free one)')
    .option('--bind <address>', 'local address', DEFAULT_BIND)
    .option('--profile <dir>', 'your profile (default ~/.insel; insel login writes it)')
    .option('-v, --verbose', 'print each flow event')
    .action(async (to: string, o: CallFlags) => {
      splitUser(to);
      const { profile, session } = await start(o, 'call');
      const { callId, expiresAt } = await invite(session, to);
      await media(profile, session, o, 'call', `call:${callId}`, (port) => `calling ${to}: call ${callId}, ringing until ${expiresAt}; send to ${o.bind}:${port}`);
    });
  program
    .command('answer')
    .description('answer a call your agent printed: datagrams sent to --local-port go to the caller')
    .argument('<id>', 'the call id')
    .requiredOption('--local-port <port>', 'the local UDP port your program sends to (0: a free one)')
    .option('--bind <address>', 'local address', DEFAULT_BIND)
    .option('--profile <dir>', 'your profile (default ~/.insel; insel login writes it)')
    .option('-v, --verbose', 'print each flow event')
    .action(async (id: string, o: CallFlags) => {
      const { profile, session } = await start(o, 'answer');
      const { from } = await checkAnswer(session, id);
      await media(profile, session, o, 'answer', `call:${id}`, (port) => `answering call ${id} from ${from}; send to ${o.bind}:${port}`);
    });
  program
    .command('agent')
    .description('wait for calls: prints each invitation with the command that answers it')
    .option('--profile <dir>', 'your profile (default ~/.insel; insel login writes it)')
    .action(async (o: { profile?: string }) => {
      const profile = loadUserProfile(profileDir(o.profile));
      const session = await openSiteSession(profile, warn('agent'));
      const a = await agent(session, (inv) => say(`call ${inv.callId} from ${inv.from}: insel answer ${inv.callId} --local-port Q${o.profile === undefined ? '' : ` --profile ${o.profile}`}`));
      say(`waiting for calls at site ${profile.site}`);
      const stop = () => {
        a.stop();
        session.close();
        process.exit(0);
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      const why = await a.ended;
      warn('agent')(why);
      session.close();
      process.exit(1);
    });
}

async function start(o: CallFlags, cmd: string): Promise<{ profile: UserProfile; session: ForwardSession }> {
  localPort(o.localPort);
  const profile = loadUserProfile(profileDir(o.profile));
  return { profile, session: await openSiteSession(profile, warn(cmd)) };
}

/** Relays the local port to the call until Ctrl-C or the call's end (exit 0), or a refusal (exit 1). */
async function media(profile: UserProfile, session: ForwardSession, o: CallFlags, cmd: string, service: string, line: (port: number) => string): Promise<void> {
  let ended: (why: string) => void = () => undefined;
  const over = new Promise<string>((r) => (ended = r));
  const fwd = await openUdp({
    session,
    via: profile.gateway,
    site: profile.site,
    identity: profile.identity,
    service,
    bind: o.bind,
    port: localPort(o.localPort),
    onFlowClosed: (why) => ended(`the call ended: ${why || 'closed by the site gateway'}`),
    ...(o.verbose === true ? { log: warn(cmd) } : {}),
  });
  say(line(fwd.port));
  const refused = fwd.denial.then((why) => `refused: ${why}`);
  const stop = () => ended('');
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const why = await Promise.race([over, refused]);
  await fwd.close();
  session.close();
  if (why !== '') warn(cmd)(why);
  process.exit(why.startsWith('refused') ? 1 : 0);
}

function localPort(text: string | undefined): number {
  const n = Number(text);
  if (text === undefined || !/^[0-9]{1,5}$/.test(text) || n > 65535) throw new UsageError(`--local-port ${JSON.stringify(text ?? '')} is not a port: use 0-65535 (0: a free one)`, { field: 'local-port' });
  return n;
}
