// `insel forward`: -L/-U/-R/-D forwards through a gateway, from flags or from
// a persistent forwards.toml. Prints one line per forward on stdout
// ("forward -L 127.0.0.1:PORT -> host:port"); refusals and lost sessions
// on stderr, each connection's fate too with -v.
import type { Command } from 'commander';
import { identityFiles, profileCrlFile, readIdentityFiles, type IdentityFiles, type IdentitySource } from '../config/identity.js';
import { UsageError } from '../errors.js';
import { Forwarder, type ForwarderOptions } from '../forward/forwarder.js';
import { loadForwardsConfig } from '../forward/forwards-config.js';
import { parseHostPort } from '../net/host-port.js';
import { parseForwardSpec, type ForwardKind, type ForwardSpec } from '../forward/spec.js';
import { tuneHeapForDataPath } from './data-path-heap.js';

interface ForwardFlags extends IdentitySource {
  via?: string;
  local: string[];
  udp: string[];
  remote: string[];
  dynamic: string[];
  ftp?: boolean;
  config?: string;
  verbose?: boolean;
  gatewayName?: string;
  allowStaleCrl?: boolean;
}

const collect = (v: string, all: string[]) => [...all, v];

export function registerForward(program: Command): void {
  program
    .command('forward')
    .description('forward local ports through a gateway (like ssh -L/-R), TCP, UDP and FTP')
    .option('-L, --local <spec>', '[bind:]port:host:hostport: local TCP port to host:hostport as seen from the gateway (repeatable)', collect, [])
    .option('-U, --udp <spec>', '[bind:]port:host:hostport: the same for UDP (repeatable)', collect, [])
    .option('-R, --remote <spec>', '[bind:]port:host:hostport: the gateway listens on [bind:]port; connections come back to host:hostport as seen from here (repeatable)', collect, [])
    .option('-D, --dynamic <spec>', '[bind:]port: a SOCKS5 proxy here (CONNECT and UDP ASSOCIATE); each request names its target, resolved at the gateway (repeatable)', collect, [])
    .option('--via <host:port>', 'the gateway')
    .option('--profile <dir>', 'directory with cert.pem, key.pem, ca.pem [crl.pem] (insel pki export)')
    .option('--cert <file>', 'certificate (chain) file')
    .option('--key <file>', 'private key file')
    .option('--ca <file>', 'CA certificate file')
    .option('--crl <file>', 'CRL file')
    .option('--gateway-name <name>', "the name the gateway's certificate must carry (its insel name or a --host name); default: the --via host")
    .option('--allow-stale-crl', 'accept a CRL past its next update, with a warning (default: refuse)')
    .option('--ftp', 'make the -L forwards FTP-aware (data connections go through the tunnel too)')
    .option('--config <file>', 'persistent forwards (TOML; see examples/forwards.toml) instead of flags')
    .option('-v, --verbose', 'print each connection and how it ended')
    .action(async (o: ForwardFlags) => {
      const opts = o.config !== undefined ? fromConfig(o) : fromFlags(o);
      tuneHeapForDataPath();
      const f = await Forwarder.start(opts);
      const stop = () => void f.close().then(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}

const say = {
  info: (line: string) => void process.stdout.write(`${line}\n`),
  warn: (line: string) => void process.stderr.write(`insel forward: ${line}\n`),
};

function fromConfig(o: ForwardFlags): ForwarderOptions {
  const flags = { via: 'via', profile: 'profile', cert: 'cert', key: 'key', ca: 'ca', crl: 'crl', ftp: 'ftp', gatewayName: 'gateway-name', allowStaleCrl: 'allow-stale-crl' } as const;
  const given = (Object.keys(flags) as (keyof typeof flags)[]).filter((k) => o[k] !== undefined).map((k) => flags[k]);
  if (given.length > 0 || o.local.length + o.udp.length + o.remote.length + o.dynamic.length > 0) {
    throw new UsageError(`--config takes everything from ${o.config}; drop ${given.length > 0 ? `--${given[0]}` : 'the -L/-U/-R/-D flags'} (or drop --config)`);
  }
  const c = loadForwardsConfig(o.config!);
  return {
    via: c.via,
    identity: readIdentityFiles(c.identity, c.file),
    ...(c.gatewayName === undefined ? {} : { gatewayName: c.gatewayName }),
    allowStaleCrl: c.allowStaleCrl,
    ...(c.crlStore === undefined ? {} : { crlFile: c.crlStore }),
    forwards: c.forwards,
    persistent: true,
    reconnectMinMs: c.reconnectMinMs,
    reconnectMaxMs: c.reconnectMaxMs,
    ...say,
    ...(o.verbose ? { verbose: say.warn } : {}),
  };
}

function fromFlags(o: ForwardFlags): ForwarderOptions {
  if (o.via === undefined) throw new UsageError('say which gateway: --via HOST:PORT (or give a forwards file with --config)');
  const specs: (ForwardSpec & { ftp: boolean })[] = [];
  const add = (kind: ForwardKind, list: string[]) => list.forEach((t) => specs.push({ ...parseForwardSpec(kind, t), ftp: kind === 'L' && o.ftp === true }));
  add('L', o.local);
  add('U', o.udp);
  add('R', o.remote);
  add('D', o.dynamic);
  if (specs.length === 0) throw new UsageError('nothing to forward: give at least one -L, -U, -R or -D (e.g. -L 8080:intranet.example:80, or -D 1080)');
  if (o.ftp && o.local.length === 0) throw new UsageError('--ftp applies to -L forwards; give one, e.g. --ftp -L 2121:ftp.example:21');
  const crlFile = o.crl ?? (o.profile === undefined ? undefined : profileCrlFile(o.profile));
  return {
    via: parseHostPort(o.via, '--via'),
    identity: readIdentityFiles(identityFlags(o), 'the identity flags'),
    ...(o.gatewayName === undefined ? {} : { gatewayName: o.gatewayName }),
    allowStaleCrl: o.allowStaleCrl === true,
    ...(crlFile === undefined ? {} : { crlFile }),
    forwards: specs,
    persistent: false,
    ...say,
    ...(o.verbose ? { verbose: say.warn } : {}),
  };
}

/** The files the identity flags name (relative to the working directory). */
function identityFlags(o: ForwardFlags): IdentityFiles {
  const r = identityFiles(o, process.cwd());
  if ('both' in r) throw new UsageError('give either --profile DIR or --cert/--key/--ca/--crl, not both');
  if ('missing' in r) throw new UsageError('say who you are: --profile DIR (from insel pki export), or --cert FILE --key FILE --ca FILE');
  return r;
}
