// Test helpers for service tunnels: a gateway and a forwarder in this
// process on loopback (certificates from pki/testing.ts), with their logs
// and output captured; the CLI as a child process where a test needs
// signals; and small real peers (echo, sink) to forward to.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { exportProfile } from '../pki/export.js';
import type { TestPki } from '../pki/testing.js';
import { Forwarder, type ForwarderOptions } from './forwarder.js';
import { Gateway } from '../gateway/gateway.js';
import { profileCrlFile, profileFiles, readIdentityFiles } from '../config/identity.js';
import { loadGatewayConfig } from '../gateway/config.js';
import { GatewayRefusedError, type OpenStream } from './session.js';

/** The CLI entry, from dist/src/forward/testing.js. */
export const CLI = resolve(import.meta.dirname, '../cli/main.js');

/** A throwaway directory with profile dirs (cert.pem, key.pem, …) of the given test-PKI names. */
export function profiles(pki: TestPki, names: string[]): { dir: string; profile(name: string): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'insel-fw-'));
  for (const name of names) exportProfile({ dir: pki.dir, name, out: join(dir, name) });
  return { dir, profile: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A gateway.toml for `srv` with the given [[allow]] tables (TOML text). */
export function gatewayToml(profileDir: string, rules: string, extra = ''): string {
  return `listen = "127.0.0.1:0"\nudp_listen = "127.0.0.1:0"\nprofile = "${profileDir}"\nconnect_timeout = "3s"\n${extra}\n${rules}\n`;
}

export const ALLOW_ALICE_LOOPBACK = `[[allow]]\nname = "alice on loopback"\nwho = ["user:alice"]\nto = ["127.0.0.1", "localhost"]\nports = ["*"]\nproto = ["tcp", "udp"]\n`;

export interface TestGateway {
  gw: Gateway;
  port: number;
  config: string;
  /** every log line, parsed */
  logs: Record<string, unknown>[];
  /** rewrites the config file and reloads it (what SIGHUP does) */
  reload(rules: string): ReturnType<Gateway['reload']>;
  close(): Promise<void>;
}

/** A gateway in this process, as `srv`, with `rules`. */
export async function startGateway(dir: string, profileDir: string, rules: string, extra = ''): Promise<TestGateway> {
  const config = join(dir, `gateway-${Date.now()}-${Math.random().toString(36).slice(2)}.toml`);
  writeFileSync(config, gatewayToml(profileDir, rules, extra));
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const log = pino({ level: 'info' }, sink);
  const gw = await Gateway.start(loadGatewayConfig(config), log);
  return {
    gw,
    port: gw.port,
    config,
    logs,
    reload(newRules) {
      writeFileSync(config, gatewayToml(profileDir, newRules, extra));
      return gw.reload(loadGatewayConfig(config));
    },
    close: () => gw.close(),
  };
}

export interface TestForwarder {
  f: Forwarder;
  ports: number[];
  /** stdout lines (forward …) */
  info: string[];
  /** stderr lines (refusals, fates) */
  warn: string[];
  close(): Promise<void>;
}

export interface ForwarderExtras {
  persistent?: boolean;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  udpIdleMs?: number;
  gatewayName?: string;
  allowStaleCrl?: boolean;
}

/** A forwarder as `insel forward --profile profileDir --via 127.0.0.1:gatewayPort` runs it. */
export async function startForwarder(gatewayPort: number, profileDir: string, forwards: ForwarderOptions['forwards'], more: ForwarderExtras = {}): Promise<TestForwarder> {
  const info: string[] = [];
  const warn: string[] = [];
  const f = await Forwarder.start({
    via: { host: '127.0.0.1', port: gatewayPort },
    identity: readIdentityFiles(profileFiles(profileDir)),
    crlFile: profileCrlFile(profileDir),
    forwards,
    persistent: more.persistent ?? false,
    ...more,
    info: (l) => info.push(l),
    warn: (l) => warn.push(l),
    verbose: (l) => warn.push(l),
  });
  return { f, ports: f.ports, info, warn, close: () => f.close() };
}

/** How a gateway request ended: 'ok' (its stream is closed), or the refusal; other errors reject. */
export function outcome(p: Promise<OpenStream>): Promise<'ok' | GatewayRefusedError> {
  return p.then(
    (o) => {
      o.stream.destroy();
      return 'ok' as const;
    },
    (err: unknown) => {
      if (err instanceof GatewayRefusedError) return err;
      throw err;
    },
  );
}

/** Polls `pred` every 20 ms; fails after `ms` naming `what`. */
export async function until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A TCP server on loopback; `handle` gets each connection. */
export async function tcpServer(handle: (s: Socket) => void): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    handle(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    server,
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** An echo server: every byte back, half-close honoured. */
export const echoServer = () => tcpServer((s) => s.pipe(s));

export interface Child {
  proc: ChildProcess;
  out: string[];
  err: string[];
  /** waits for a line on stdout or stderr matching `re` */
  line(re: RegExp, ms?: number): Promise<string>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs the insel CLI with `args`; lines are collected as they come. */
export function insel(args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const out: string[] = [];
  const err: string[] = [];
  const collect = (into: string[]) => {
    let rest = '';
    return (b: Buffer) => {
      rest += b.toString('utf8');
      const parts = rest.split('\n');
      rest = parts.pop()!;
      into.push(...parts);
    };
  };
  proc.stdout!.on('data', collect(out));
  proc.stderr!.on('data', collect(err));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    out,
    err,
    exited,
    async line(re, ms = 10_000) {
      let found: string | undefined;
      await until(() => (found = [...out, ...err].find((l) => re.test(l))) !== undefined || proc.exitCode !== null, `a line matching ${re} from insel ${args.join(' ')}`, ms);
      if (found === undefined) throw new Error(`insel ${args.join(' ')} exited (${proc.exitCode}) without printing ${re}:\n${[...out, ...err].join('\n')}`);
      return found;
    },
    async kill(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}
