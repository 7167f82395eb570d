// An OpenVPN-style config file → directives: one per line, split as
// OpenVPN splits (line.ts); a leading "--" is dropped as OpenVPN does, so
// command-line spellings work too. Inline blocks (<ca>…</ca>) are not
// supported: the PEM goes in a file that `ca FILE` names.
import { quote } from '../errors.js';
import type { Directive } from './draft.js';
import { splitLine } from './line.js';
import { lineError, type Source } from './where.js';

export function readDirectives(text: string, src: Source): Directive[] {
  const out: Directive[] = [];
  // A UTF-8 byte order mark, which OpenVPN skips too.
  const lines = (text.startsWith('\uFEFF') ? text.slice(1) : text).split('\n');
  lines.forEach((raw, i) => {
    const at = { src, line: i + 1 };
    const args = splitLine(raw, (problem, hint) => {
      throw lineError(at, '', problem, hint);
    });
    const first = args.shift();
    if (first === undefined) return;
    const name = first.startsWith('--') ? first.slice(2) : first;
    if (/^<[^/].*>$/.test(name)) {
      const tag = name.slice(1, -1);
      throw lineError(at, '', `inline blocks (${quote(name)}) are not supported`, `save the PEM between <${tag}> and </${tag}> as a file and write ${tag} FILE instead`);
    }
    out.push({ name, args, line: i + 1 });
  });
  return out;
}
