// The tunnel bench's tables: absolute figures per tunnel, then insel's
// ratios to wireguard-go and OpenVPN next to issue 14 §10's targets.
import { fmt, markdown, median, ratio } from './report.js';
import type { MemoryRow } from './tunnel-clients.js';
import type { UdpResult } from './tunnel-iperf.js';

export interface Row {
  /** One of PEER_KEYS (tunnel.ts). */
  key: string;
  peer: string;
  protection: string;
  /** Why the row has no figures (not available, failed). */
  note?: string;
  tcp1: number[];
  tcp4: number[];
  full: UdpResult[];
  max: number[];
  cpuTcp: number[];
  cpuSmall: number[];
  rss?: number;
}

/** Issue 14 §10: insel ÷ wireguard-go and insel ÷ OpenVPN must each reach these. */
const TARGETS = { tcp1: 1.5, tcp4: 1.5, recv: 2, max: 2 } as const;
const MEMORY_TARGET_MIB = 64;
const MEMORY_TARGET_CLIENTS = 100;
const MIB = 1024 * 1024;

type Figure = keyof typeof TARGETS;

const med = (xs: readonly number[]) => (xs.length === 0 ? undefined : median(xs));

function figure(r: Row | undefined, f: Figure): number | undefined {
  if (r === undefined || r.note !== undefined) return undefined;
  if (f === 'recv') return med(r.full.map((u) => u.recvPps));
  return med(r[f]);
}

const cell = (v: number | undefined, digits = 0) => (v === undefined ? '-' : fmt(v, digits));

export function figuresTable(rows: readonly Row[]): string[] {
  const head = ['tunnel', 'TCP 1 stream Gbit/s', 'TCP 4 streams Gbit/s', '64 B pkt/s received at full load', 'loss at full load %', '64 B max pkt/s offered, < 5% loss', 'CPU % TCP 1 stream', 'CPU % 64 B full load', 'server RSS MiB', 'protection'];
  return markdown(
    head,
    rows.map((r) => {
      if (r.note !== undefined) return [r.peer, ...head.slice(1, -1).map(() => '-'), r.note];
      return [
        r.peer,
        cell(figure(r, 'tcp1'), 2),
        cell(figure(r, 'tcp4'), 2),
        cell(figure(r, 'recv')),
        cell(med(r.full.map((u) => 100 * u.loss)), 1),
        cell(figure(r, 'max')),
        cell(med(r.cpuTcp)),
        cell(med(r.cpuSmall)),
        cell(r.rss === undefined ? undefined : r.rss / MIB, 1),
        r.protection,
      ];
    }),
  );
}

const FIGURES: [Figure, string][] = [
  ['tcp1', 'TCP 1 stream Gbit/s'],
  ['tcp4', 'TCP 4 streams Gbit/s'],
  ['recv', '64 B pkt/s received at full load'],
  ['max', '64 B max pkt/s offered, < 5% loss'],
];

function verdict(ratios: (number | undefined)[], target: number): string {
  if (ratios.some((x) => x === undefined)) return '-';
  return ratios.every((x) => (x as number) >= target) ? 'met' : 'missed';
}

/** RSS at MEMORY_TARGET_CLIENTS clients: measured, or extrapolated linearly from fewer. */
function memoryAtTarget(m: MemoryRow): { mib: number; extrapolated: boolean } | undefined {
  if (m.clients >= MEMORY_TARGET_CLIENTS) return { mib: m.rss / MIB, extrapolated: false };
  if (m.clients < 2) return undefined;
  const perClient = (m.rss - m.rssOne) / (m.clients - 1);
  return { mib: (m.rssOne + perClient * (MEMORY_TARGET_CLIENTS - 1)) / MIB, extrapolated: true };
}

const memoryCell = (m: MemoryRow | string) => {
  if (typeof m === 'string') return m;
  const perClient = m.clients > 1 ? `, ${fmt((m.rss - m.rssOne) / (m.clients - 1) / 1024)} KiB per client` : '';
  return `${fmt(m.rss / MIB, 1)} MiB @ ${m.clients} (${fmt(m.rssOne / MIB, 1)} MiB @ 1${perClient}${m.note ? `; ${m.note}` : ''})`;
};

const atTarget = (m: MemoryRow | string) => (typeof m === 'string' ? undefined : memoryAtTarget(m));

function memoryRow(insel: MemoryRow | string, ovpn: MemoryRow | string): string[] {
  const [a, o] = [atTarget(insel), atTarget(ovpn)];
  const judged = a === undefined ? '-' : `${a.mib < MEMORY_TARGET_MIB ? 'met' : 'missed'}${a.extrapolated ? ` (extrapolated: ${fmt(a.mib, 1)} MiB @ ${MEMORY_TARGET_CLIENTS})` : ''}`;
  return ['server RSS @ N clients', 'insel (CA)', memoryCell(insel), '-', memoryCell(ovpn), '-', ratio(a?.mib, o?.mib), `< ${MEMORY_TARGET_MIB} MiB @ ${MEMORY_TARGET_CLIENTS}`, judged];
}

/** `inselMem`, `ovpnMem`: the servers' RSS with many clients (tunnel-clients.ts), or why there is none. */
export function targetsTable(rows: readonly Row[], inselMem: MemoryRow | string, ovpnMem: MemoryRow | string): string[] {
  const by = (key: string) => rows.find((r) => r.key === key);
  const [wg, ovpn] = [by('wireguard-go'), by('openvpn')];
  const insels = rows.filter((r) => r.key.startsWith('insel'));
  const head = ['figure', 'insel row', 'insel', 'wireguard-go', 'OpenVPN', 'insel / wg', 'insel / OpenVPN', 'target (both)', 'verdict'];
  const body = insels.flatMap((r) =>
    FIGURES.map(([f, label]) => {
      const [a, w, o] = [figure(r, f), figure(wg, f), figure(ovpn, f)];
      const digits = f.startsWith('tcp') ? 2 : 0;
      const rw = a === undefined || w === undefined ? undefined : a / w;
      const ro = a === undefined || o === undefined ? undefined : a / o;
      return [label, r.peer, r.note === undefined ? cell(a, digits) : 'not available', cell(w, digits), cell(o, digits), ratio(a, w), ratio(a, o), `≥ ${TARGETS[f]}×`, verdict([rw, ro], TARGETS[f])];
    }),
  );
  return markdown(head, [...body, memoryRow(inselMem, ovpnMem)]);
}
