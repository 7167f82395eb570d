// PEM blocks in and out. Reading is strict about the body (base64 only) because
// Buffer.from(…, 'base64') would silently skip garbage, and lenient about text
// between blocks, as OpenSSL is (bundles often carry comments).
import { PkiError } from './errors.js';

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([^-]*?)-----END \1-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/\r\n]*={0,2}\r?\n?$/;

/** The DER bodies of every `label` block in `text`, in order. Other labels are skipped. */
export function decodePem(text: string, label: string, file: string): Buffer[] {
  const out: Buffer[] = [];
  for (const [, found, body = ''] of text.matchAll(BLOCK)) {
    if (found !== label) continue;
    if (!BASE64_BODY.test(body)) {
      throw new PkiError('INSEL_PKI_BAD_FILE', `${file}: a ${label} block is not valid base64; replace the file with an intact copy`, { file });
    }
    out.push(Buffer.from(body, 'base64'));
  }
  return out;
}

/** Exactly one `label` block, or a PkiError naming the file. */
export function decodeOnePem(text: string, label: string, file: string): Buffer {
  const blocks = decodePem(text, label, file);
  if (blocks.length !== 1) {
    throw new PkiError('INSEL_PKI_BAD_FILE', `${file}: expected one ${label} PEM block, found ${blocks.length}`, { file });
  }
  return blocks[0] as Buffer;
}

export function encodePem(der: Uint8Array, label: string): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
