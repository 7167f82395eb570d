// One line of an OpenVPN config file split into arguments exactly as
// OpenVPN's parse_line (options.c) does: whitespace separates; "double" and
// 'single' quotes group; a backslash escapes \, " and whitespace outside
// single quotes (anything else after it is an error, as in OpenVPN); # or ;
// where an argument would start ends the line. Bounded like OpenVPN: 16
// arguments of 256 characters.
export const MAX_ARGS = 16;
export const MAX_ARG_CHARS = 256;

const INITIAL = 0;
const UNQUOTED = 1;
const QUOTED = 2;
const SQUOTED = 3;

/** C's isspace, plus the NUL that ends a C string. */
function isSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f' || c === '\0';
}

/** Reports why a line cannot be split: (problem, hint). */
export type LineFail = (problem: string, hint: string) => never;

/** The arguments of `line` ([] for a blank or comment line); `fail` for an unclosed quote, a bad backslash, too many or too long arguments. */
export function splitLine(line: string, fail: LineFail): string[] {
  // A C string ends at its first NUL; the NUL itself ends the last argument.
  const nul = line.indexOf('\0');
  const text = `${nul < 0 ? line : line.slice(0, nul)}\0`;
  const args: string[] = [];
  let state = INITIAL;
  let backslash = false;
  let arg = '';
  for (const c of text) {
    let out: string | undefined;
    if (!backslash && c === '\\' && state !== SQUOTED) {
      backslash = true;
    } else {
      let done = false;
      if (state === INITIAL) {
        if (!isSpace(c)) {
          if (c === ';' || c === '#') break; // a comment, even after a backslash, as in OpenVPN
          if (!backslash && c === '"') state = QUOTED;
          else if (!backslash && c === "'") state = SQUOTED;
          else {
            out = c;
            state = UNQUOTED;
          }
        }
      } else if (state === UNQUOTED) {
        if (!backslash && isSpace(c)) done = true;
        else out = c;
      } else if (state === QUOTED) {
        if (!backslash && c === '"') done = true;
        else out = c;
      } else if (c === "'") {
        done = true;
      } else {
        out = c;
      }
      if (out === '\0') out = undefined;
      if (done) {
        args.push(arg);
        arg = '';
        state = INITIAL;
      }
      if (backslash && out !== undefined && !(out === '\\' || out === '"' || isSpace(out))) {
        fail(`a backslash before ${JSON.stringify(out)}`, 'a backslash escapes only \\, " and spaces (as in OpenVPN): write \\\\ for a backslash, or put the argument in single quotes');
      }
      backslash = false;
    }
    if (out !== undefined) {
      if (arg.length >= MAX_ARG_CHARS) fail(`an argument longer than ${MAX_ARG_CHARS} characters`, 'shorten it (OpenVPN has the same limit)');
      arg += out;
    }
    if (args.length > MAX_ARGS) fail(`more than ${MAX_ARGS} arguments`, 'one directive per line');
  }
  if (state === QUOTED) fail('no closing quotation mark (")', 'close the quoted argument on the same line');
  if (state === SQUOTED) fail("no closing single quotation mark (')", 'close the quoted argument on the same line');
  if (state !== INITIAL) fail('the line ends in a backslash', 'remove it, or write \\\\ for a backslash');
  return args;
}
