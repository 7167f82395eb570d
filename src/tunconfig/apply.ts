// Directives → a draft: look each up, check its argument count and
// repetition, let its entry record it. Unknown names get a "did you mean".
import { quote } from '../errors.js';
import { DIRECTIVES, OPENVPN_ONLY } from './directives.js';
import { newDraft, type Directive, type Draft } from './draft.js';
import { closest } from './suggest.js';
import { lineError, show, type Source, type Where } from './where.js';

const NAMES = Object.keys(DIRECTIVES);

function count(min: number, max: number): string {
  const n = (k: number) => `${k} argument${k === 1 ? '' : 's'}`;
  if (min === max) return min === 0 ? 'no arguments' : n(min);
  return min === 0 ? `at most ${n(max)}` : `${min} to ${n(max)}`;
}

function unknown(at: Where, name: string): never {
  const what = at.src.toml ? 'key' : 'directive';
  const lower = name.toLowerCase();
  const why = Object.hasOwn(OPENVPN_ONLY, lower) ? OPENVPN_ONLY[lower] : undefined;
  const near = closest(name, NAMES);
  const hint =
    why !== undefined
      ? `an OpenVPN ${what} insel does not read (${why}): remove it`
      : near !== undefined
        ? `did you mean ${show(at.src, near)}?`
        : `docs/TUNNEL-CONFIG.md lists the ${what}s insel reads`;
  throw lineError(at, '', `unknown ${what} ${quote(show(at.src, name))}`, hint);
}

function applyOne(d: Draft, { name, args, line }: Directive): void {
  const at = { src: d.src, line };
  const spec = Object.hasOwn(DIRECTIVES, name) ? DIRECTIVES[name]! : unknown(at, name);
  const first = d.seen.get(name);
  if (first !== undefined && spec.repeat !== true) throw lineError(at, name, `given twice (first at line ${first})`, 'keep one');
  const [min, max] = spec.args;
  if (args.length < min || args.length > max) throw lineError(at, name, `takes ${count(min, max)}, not ${args.length}`, `usage: ${spec.usage}`);
  spec.apply(d, args, {
    at,
    fail: (problem, hint) => {
      throw lineError(at, name, problem, hint);
    },
  });
  if (first === undefined) d.seen.set(name, line);
}

/** The draft of a file's directives, paths resolved against `dir`. */
export function applyDirectives(directives: Directive[], src: Source, dir: string): Draft {
  const d = newDraft(src, dir);
  for (const directive of directives) applyOne(d, directive);
  return d;
}
