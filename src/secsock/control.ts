// Connection-phase messages, carried in HELLO/ACCEPT/REJECT frames inside
// TLS. Payloads are UTF-8 JSON checked by a strict schema: a wrong field is a
// DecodeError naming it, never a crash. Nonces are hex.
import { z } from 'zod';
import { NONCE_BYTES, PROTOCOL_VERSION } from './constants.js';
import { DecodeError } from './errors.js';

const names = z.array(z.string().max(64)).max(32);
const nonce = z.string().regex(new RegExp(`^[0-9a-f]{${NONCE_BYTES * 2}}$`), 'nonce must be 32 bytes of lower-case hex');

export const helloSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    transport: z.enum(['tcp', 'udp']),
    aeads: names,
    hashes: names,
    compressions: names,
    modes: names,
    nonce,
    maxFrame: z.number().int().positive(),
    maxMessage: z.number().int().positive(),
    datagramSize: z.number().int().positive(),
  })
  .strict();

export const acceptSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    aead: z.string(),
    hash: z.string(),
    compression: z.string(),
    mode: z.string(),
    nonce,
    maxFrame: z.number().int().positive(),
    maxMessage: z.number().int().positive(),
    datagramSize: z.number().int().positive(),
    /** udp only: where the data channel lives. */
    udpPort: z.number().int().min(1).max(65535).optional(),
    /** The channel's id: names it in UDP headers and in a TCP rekey's RESUME. */
    channelId: z.number().int().min(1).max(0xffffffff).optional(),
  })
  .strict();

export const rejectSchema = z.object({ code: z.string().max(64), message: z.string().max(4096) }).strict();

/** TCP rekey: channel id and HMAC proof (hex) that we held the old connection. */
export const resumeSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    channelId: z.number().int().min(1).max(0xffffffff),
    proof: z.string().regex(/^[0-9a-f]{64}$/, 'proof must be 32 bytes of lower-case hex'),
  })
  .strict();

export type Hello = z.infer<typeof helloSchema>;
export type Accept = z.infer<typeof acceptSchema>;
export type Reject = z.infer<typeof rejectSchema>;
export type Resume = z.infer<typeof resumeSchema>;

export function encodeControl(msg: Hello | Accept | Reject | Resume): Buffer {
  return Buffer.from(JSON.stringify(msg), 'utf8');
}

export function decodeControl<T>(schema: z.ZodType<T>, payload: Buffer, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch (cause) {
    throw new DecodeError(`${what}: not valid JSON`, { cause });
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    // An unexpected key is reported on its parent object: name the key itself.
    const field = (issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path).join('.');
    throw new DecodeError(`${what}: field '${field}': ${issue.message}`, { field });
  }
  return r.data;
}
