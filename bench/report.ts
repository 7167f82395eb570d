// Figures and markdown tables for the bench reports.

export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** An error as one table-safe line. */
export const why = (err: unknown) => (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').replace(/\|/g, '/').slice(0, 300);

export function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || b === 0 ? '-' : fmt(a / b, 2);
}

const sorted = (xs: readonly number[]) => xs.slice().sort((a, b) => a - b);

export function median(xs: readonly number[]): number {
  const s = sorted(xs);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export const p90 = (xs: readonly number[]) => sorted(xs)[Math.max(0, Math.ceil(xs.length * 0.9) - 1)] as number;

/** A markdown table: the first and last columns left-aligned (names, notes), the figures between right-aligned. */
export function markdown(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const align = head.map((_, i) => (i === 0 || i === head.length - 1 ? '---' : '---:'));
  return [`| ${head.join(' | ')} |`, `|${align.join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}
