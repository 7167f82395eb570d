// A real SOCKS5 UDP client for the tests: Python with PySocks (Debian's
// python3-socks, which installs for /usr/bin/python3 only, not for a pyenv
// python3 on PATH). One program, one mode per run; it prints one JSON line
// with what it saw, then, with "hold", keeps its association open until its
// stdin closes, so a test can look at the gateway while the association lives.
//
//   burst   `count` datagrams of 60-120 bytes to host:port, in windows of
//           `window` (the first alone: a new destination queues only a few
//           until the gateway has authorized it), each window waiting up to
//           `wait` s for its echoes
//   flows   one datagram to each of `ports` on host, in windows the same way
//   denied  `count` datagrams `gap` s apart to each of `targets`; replies counted per target
//   frag    `count` datagrams with FRAG = 1..count sent raw (the SOCKS header
//           written by hand, through the associated socket), then one with FRAG 0
//
// Each reply is checked: its source must be where the datagram went, its
// bytes what was sent.
import type { TestContext } from 'node:test';
import { spawn, spawnSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

const PROGRAM = String.raw`
import json, socket, struct, sys, time
import socks

cfg = json.loads(sys.argv[1])

def associate():
    s = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)
    s.set_proxy(socks.SOCKS5, '127.0.0.1', cfg['proxy'])
    s.settimeout(0.05)
    s.bind(('127.0.0.1', 0))  # the UDP ASSOCIATE happens here
    return s

def payload(k):
    return struct.pack('>I', k) + bytes((k * 31 + j) & 0xff for j in range(56 + k % 61))

def exchange(s, dests, window, wait):
    """Sends payload(k) to dests[k] in windows; per k whether it came back right."""
    got = {'answered': 0, 'lost': 0, 'wrong_source': 0, 'corrupt': 0, 'late': 0}
    k0 = 0
    while k0 < len(dests):
        k1 = min(len(dests), k0 + (1 if k0 == 0 else window))
        pending = {}
        for k in range(k0, k1):
            pending[k] = payload(k)
            s.sendto(pending[k], dests[k])
        end = time.monotonic() + wait
        while pending and time.monotonic() < end:
            try:
                data, src = s.recvfrom(4096)
            except socket.timeout:
                continue
            k = struct.unpack('>I', data[:4])[0] if len(data) >= 4 else -1
            sent = pending.pop(k, None)
            if sent is None:
                got['late'] += 1
                continue
            got['answered'] += 1
            if src != dests[k]:
                got['wrong_source'] += 1
                got.setdefault('wrong_example', [list(src), list(dests[k])])
            if data != sent:
                got['corrupt'] += 1
        got['lost'] += len(pending)
        k0 = k1
    return got

def drain(s, secs):
    n = 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            s.recvfrom(4096)
            n += 1
        except socket.timeout:
            pass
    return n

s = associate()
relay = socket.socket.getpeername(s)  # PySocks' own getpeername is the target's, unset for UDP
t0 = time.monotonic()
mode = cfg['mode']
if mode == 'burst':
    out = exchange(s, [(cfg['host'], cfg['port'])] * cfg['count'], cfg['window'], cfg['wait'])
elif mode == 'flows':
    out = exchange(s, [(cfg['host'], p) for p in cfg['ports']], cfg['window'], cfg['wait'])
elif mode == 'denied':
    out = {'replies': {}}
    for i in range(cfg['count']):
        for host, port in cfg['targets']:
            s.sendto(payload(i), (host, port))
        time.sleep(cfg['gap'])
    end = time.monotonic() + cfg['wait']
    while time.monotonic() < end:
        try:
            data, src = s.recvfrom(4096)
        except socket.timeout:
            continue
        key = '%s:%d' % src
        out['replies'][key] = out['replies'].get(key, 0) + 1
elif mode == 'frag':
    host, port = cfg['host'], cfg['port']
    header = lambda frag: bytes([0, 0, frag, 1]) + socket.inet_aton(host) + struct.pack('>H', port)
    for frag in range(1, cfg['count'] + 1):
        socket.socket.send(s, header(frag & 0xff) + b'fragment %d' % frag)
    frag_replies = drain(s, cfg['wait'])
    socket.socket.send(s, header(0) + b'whole')
    whole = None
    end = time.monotonic() + cfg['wait']
    while whole is None and time.monotonic() < end:
        try:
            whole = s.recvfrom(4096)
        except socket.timeout:
            pass
    out = {'frag_replies': frag_replies, 'whole': None if whole is None else [whole[0].decode('latin1'), list(whole[1])]}
else:
    raise SystemExit('unknown mode ' + mode)
out['relay'] = list(relay)
out['secs'] = time.monotonic() - t0
print(json.dumps(out), flush=True)
if cfg.get('hold'):
    sys.stdin.readline()
s.close()
`;

/**
 * Why PySocks cannot run here, or undefined when it can. With CI=true a
 * missing python3-socks throws: CI must run these tests.
 */
export function pysocksMissing(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import socks'], { timeout: 20_000, encoding: 'utf8' });
  const why = r.error ? `${PYTHON} did not run: ${r.error.message}` : r.status !== 0 ? `${PYTHON} cannot import socks (apt-get install python3-socks): ${r.stderr.trim().split('\n').pop()}` : undefined;
  if (why !== undefined && process.env['CI'] === 'true') throw new Error(`CI lacks a required capability: ${why}`);
  return why;
}

export interface PySocksRun<R> {
  /** the JSON line it printed */
  result: Promise<R>;
  /** closes its stdin (ending a "hold") and waits for its exit */
  release(): Promise<void>;
}

/** Runs the program in `cfg.mode` through the SOCKS5 proxy on 127.0.0.1:`cfg.proxy`; killed after `ms` and after `t`. */
export function pysocks<R>(t: TestContext, cfg: { mode: string; proxy: number; hold?: boolean } & Record<string, unknown>, ms: number): PySocksRun<R> {
  const proc = spawn(PYTHON, ['-c', PROGRAM, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  proc.stdin.on('error', () => undefined);
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
  t.after(() => {
    clearTimeout(timer);
    proc.kill('SIGKILL');
  });
  const result = new Promise<R>((resolve, reject) => {
    const check = () => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line !== undefined) resolve(JSON.parse(line) as R);
    };
    proc.stdout.on('data', check);
    void exited.then((code) => {
      check();
      reject(new Error(`PySocks ${cfg.mode} exited (${code ?? 'killed'}) without a result: ${err.trim().split('\n').slice(-5).join(' | ')}`));
    });
  });
  return {
    result,
    async release() {
      proc.stdin.end();
      await exited;
      clearTimeout(timer);
    },
  };
}
