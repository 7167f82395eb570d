// OpenVPN "Static key V1" files (`openvpn --genkey secret`), the pre-shared
// secret for tls-auth style packet authentication:
//
//   #
//   # 2048 bit OpenVPN static key
//   #
//   -----BEGIN OpenVPN Static key V1-----
//   16 lines of 32 lowercase hex digits (256 random bytes)
//   -----END OpenVPN Static key V1-----
//
// Reading accepts what OpenVPN accepts around that: comment and blank lines
// before the block, upper-case hex, CRLF; the body must be exactly 256 bytes.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PkiError } from './errors.js';
import { KEY_MODE, writeFileAtomic } from './store.js';

export const STATIC_KEY_BYTES = 256;
const BEGIN = '-----BEGIN OpenVPN Static key V1-----';
const END = '-----END OpenVPN Static key V1-----';
const LINE_HEX = 32;

export function formatStaticKey(key: Uint8Array): string {
  if (key.length !== STATIC_KEY_BYTES) throw new RangeError(`a static key is ${STATIC_KEY_BYTES} bytes, not ${key.length}`);
  const hex = Buffer.from(key).toString('hex');
  const lines = hex.match(new RegExp(`.{${LINE_HEX}}`, 'g')) as string[];
  return `#\n# 2048 bit OpenVPN static key\n#\n${BEGIN}\n${lines.join('\n')}\n${END}\n`;
}

export function generateStaticKey(): string {
  return formatStaticKey(randomBytes(STATIC_KEY_BYTES));
}

/** The 256 key bytes of a static key file's text; PkiError BAD_FILE naming `file` and the line otherwise. */
export function parseStaticKey(text: string, file: string): Buffer {
  const fail = (line: number | undefined, what: string) =>
    new PkiError('INSEL_PKI_BAD_FILE', `${file}${line === undefined ? '' : `:${line}`}: ${what}; generate a new key with insel genkey --secret ${file} --force`, { file });
  const lines = text.split(/\r?\n/);
  let i = 0;
  while (i < lines.length && (lines[i]!.trim() === '' || lines[i]!.startsWith('#'))) i++;
  if (lines[i]?.trim() !== BEGIN) throw fail(i < lines.length ? i + 1 : undefined, `expected "${BEGIN}"`);
  const hex: string[] = [];
  for (i++; i < lines.length && lines[i]!.trim() !== END; i++) {
    const line = lines[i]!.trim();
    if (!/^[0-9a-fA-F]*$/.test(line) || line.length % 2 !== 0) throw fail(i + 1, 'not a line of hex digits');
    hex.push(line);
  }
  if (i >= lines.length) throw fail(undefined, `"${END}" is missing`);
  const extra = lines.slice(i + 1).findIndex((l) => l.trim() !== '');
  if (extra >= 0) throw fail(i + 2 + extra, `unexpected text after "${END}"`);
  const key = Buffer.from(hex.join(''), 'hex');
  if (key.length !== STATIC_KEY_BYTES) throw fail(undefined, `the key is ${key.length} bytes, expected ${STATIC_KEY_BYTES}`);
  return key;
}

export function readStaticKey(file: string): Buffer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new PkiError(missing ? 'INSEL_PKI_NOT_FOUND' : 'INSEL_PKI_BAD_FILE', `cannot read static key ${file}: ${(err as Error).message}`, { file, cause: err });
  }
  return parseStaticKey(text, file);
}

/** Writes a new static key to `file` (mode 0600); an existing file only with `force`. */
export function writeStaticKey(file: string, force: boolean): void {
  writeFileAtomic(file, generateStaticKey(), { mode: KEY_MODE, force });
}
