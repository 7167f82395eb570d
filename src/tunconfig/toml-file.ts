// The same settings as TOML → the same directives: a key is a directive in
// snake_case (comp_lzo = comp-lzo), its value the arguments:
//   true                      no arguments (false: as if absent)
//   "text" or 1194            one argument; for a directive that takes
//                             several, a string is split at spaces
//   ["a", 1]                  the arguments, verbatim
// remote, route, route_ipv6 and push may repeat: their value is a list with
// one entry (of the forms above) per directive line. A key's line is found
// in the text, so errors name file:line as for a directive file.
import { z } from 'zod';
import { parseToml } from '../config/toml.js';
import { quote } from '../errors.js';
import { DIRECTIVES } from './directives.js';
import type { Directive } from './draft.js';
import { lineError, type Source } from './where.js';

const arg = z.union([z.string(), z.number()]);
const occurrence = z.union([z.boolean(), arg, z.array(arg)]);
const value = z.union([occurrence, z.array(occurrence)]);
type Occurrence = z.infer<typeof occurrence>;

const FORMS = 'use true, a string, a number, or a list of strings and numbers (docs/TUNNEL-CONFIG.md)';

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The line where top-level key `key` is set (`key =`, `"key" =`, `key.x =` or a `[key]` table), else 1. */
function keyLine(lines: string[], key: string): number {
  const k = escape(key);
  const re = new RegExp(`^\\s*(?:(?:${k}|"${k}"|'${k}')\\s*[=.]|\\[\\[?\\s*${k}\\s*[\\].])`);
  const i = lines.findIndex((l) => re.test(l));
  return i < 0 ? 1 : i + 1;
}

/** The arguments one occurrence stands for; undefined for false (absent). */
function args(v: Occurrence, several: boolean): string[] | undefined {
  if (v === false) return undefined;
  if (v === true) return [];
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string' && several) return v.split(/\s+/).filter((a) => a !== '');
  return [String(v)];
}

export function readTomlDirectives(text: string, src: Source): Directive[] {
  const doc = parseToml(text, src.file);
  const lines = text.split('\n');
  const out: Directive[] = [];
  for (const [key, raw] of Object.entries(doc)) {
    const line = keyLine(lines, key);
    const at = { src, line };
    const name = key.replaceAll('_', '-');
    if (key.includes('-')) throw lineError(at, '', `key ${quote(key)} is not snake_case`, `TOML keys spell directives with "_": ${key.replaceAll('-', '_')}`);
    const spec = Object.hasOwn(DIRECTIVES, name) ? DIRECTIVES[name]! : undefined;
    if (spec === undefined) {
      out.push({ name, args: [], line }); // reported as unknown, with a suggestion, when applied
      continue;
    }
    const parsed = value.safeParse(raw);
    if (!parsed.success) throw lineError(at, name, 'is not a directive value', FORMS);
    const several = spec.args[1] > 1;
    const v = parsed.data;
    const each: Occurrence[] = spec.repeat === true && Array.isArray(v) ? v : [v as Occurrence];
    for (const o of each) {
      if (Array.isArray(o) && spec.repeat !== true && o.some((a) => typeof a !== 'string' && typeof a !== 'number')) {
        throw lineError(at, name, 'takes no nested lists', FORMS);
      }
      const a = args(o, several);
      if (a !== undefined) out.push({ name, args: a, line });
    }
  }
  return out.sort((a, b) => a.line - b.line);
}
