// A StatusSnapshot as text: a header and one line per client, columns
// aligned. `insel status` prints it; `status FILE` writes it.
import type { ClientStatus, StatusSnapshot } from './status-snapshot.js';

const COLUMNS = ['IDENTITY', 'VIRTUAL', 'REAL', 'RUNG', 'MTU', 'IN', 'OUT', 'HANDSHAKE', 'EPOCH'] as const;

export function formatStatusText(s: StatusSnapshot): string {
  const t = s.transport;
  const ports = t.proto === 'tcp' ? `tcp ${t.tcpPort}` : `udp ${t.udpPort}, tcp ${t.tcpPort}`;
  const head = `insel tunnel ${s.mode} on ${clean(s.device)} (${ports}) at ${s.time}: ${s.clients.length} ${s.mode === 'server' ? 'client' : 'peer'}${s.clients.length === 1 ? '' : 's'}\n`;
  if (s.clients.length === 0) return head;
  const rows = [[...COLUMNS], ...s.clients.map(row)];
  const widths = COLUMNS.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return head + rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ').trimEnd() + '\n').join('');
}

function row(c: ClientStatus): string[] {
  const virtual = [c.virtual.v4, c.virtual.v6].filter((a) => a !== undefined).join(',') || '-';
  const rung = c.rungWhy === undefined ? c.rung : `${c.rung} (${c.rungWhy})`;
  return [clean(c.identity), clean(virtual), clean(c.real), clean(rung), String(c.mtu), bytes(c.bytesIn), bytes(c.bytesOut), c.lastHandshake ?? '-', String(c.keyEpoch)];
}

/** 1536 → "1.5 KiB": readable at a glance; --json has the exact counts. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Names come from certificates and peers: no control character reaches a terminal. */
function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}
