// The messages of insel-org/1 and insel-enroll/1 (docs/PROTOCOL.md §7.1), as zod
// schemas: every object a peer sends is checked against one before any
// field is used. Strings are bounded; names follow pki/identity.ts (1-64 of
// A-Z a-z 0-9 . _ -), so a name that passes here can become a file name or
// a certificate field. Unknown keys are refused (strict), so a misspelt key
// is an error rather than a silently missing value.
import { z } from 'zod';
import { isValidName } from '../../pki/identity.js';

const name = z.string().max(64).refine(isValidName, { error: 'not a valid name (1-64 of A-Z a-z 0-9 . _ -)' });
const groups = z.array(name).max(64);
/** host:port as text; the receiver parses it where it dials */
const address = z.string().min(3).max(300);
const pem = z.string().min(1).max(64 << 10);
const code = z.string().min(1).max(200);
/** "<id>.<secret>", base64url */
const ticket = z.string().min(1).max(200);
const serial = z.string().regex(/^[0-9a-f]{1,64}$/);
const reqId = z.number().int().min(0).max(0xffff_ffff);
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const proto = z.enum(['tcp', 'udp']);
/** "svc@site" */
const serviceRef = z.string().max(129).regex(/^[A-Za-z0-9._-]{1,64}@[A-Za-z0-9._-]{1,64}$/, { error: 'must be "service@site"' });
/** a call's media (docs/PROTOCOL.md §7.4): "call:<26 base32>", at the callee's site "call:<id>@site" */
const callRef = z.string().regex(/^call:[a-z2-7]{26}$/, { error: 'must be "call:<id>"' });
const callAtSite = z.string().max(100).regex(/^call:[a-z2-7]{26}@[A-Za-z0-9._-]{1,64}$/, { error: 'must be "call:<id>@site"' });

export const orgUser = z.strictObject({ name, site: name, groups, serial });
export const publishedService = z.strictObject({ name, proto, groups });
const siteAddress = z.strictObject({ name, public: address, udp: address.optional() });

/** Request bodies by type (each also carries `id` and `type`). */
export const requestBodies = {
  // insel-enroll/1
  enroll: { code, csr: pem },
  // insel-org/1, from a site
  register: { site: name, public: address, udp: address.optional(), services: z.array(publishedService).max(1024) },
  heartbeat: {},
  subscribe: {},
  authorize: { user: orgUser, service: serviceRef.or(callRef) },
  ticket: { ticket },
  'session-end': { ticket, bytesIn: count, bytesOut: count },
  services: { user: orgUser },
  'user-code': { name, groups, ttlS: z.number().int().min(60).max(30 * 24 * 3600) },
  redeem: { code, csr: pem },
  renew: { csr: pem },
  'renew-user': { user: orgUser, csr: pem },
  call: { from: orgUser, to: serviceRef },
} as const;

export type RequestType = keyof typeof requestBodies;
export const ENROLL_REQUESTS = ['enroll'] as const satisfies readonly RequestType[];
export const ORG_REQUESTS = ['register', 'heartbeat', 'subscribe', 'authorize', 'ticket', 'session-end', 'services', 'user-code', 'redeem', 'renew', 'renew-user', 'call'] as const satisfies readonly RequestType[];

type Shape<T extends RequestType> = (typeof requestBodies)[T];
export type RequestBody<T extends RequestType> = z.infer<z.ZodObject<Shape<T>>>;
export type Request<T extends RequestType = RequestType> = { [K in T]: { id: number; type: K } & RequestBody<K> }[T];

function requestSchema<T extends RequestType>(type: T) {
  return z.strictObject({ id: reqId, type: z.literal(type), ...requestBodies[type] });
}

/** The schema of the requests a listener accepts on one ALPN. */
export function requestsSchema<T extends RequestType>(types: readonly T[]): z.ZodType<Request<T>> {
  const schemas = types.map((t) => requestSchema(t));
  return z.discriminatedUnion('type', schemas as unknown as [z.ZodObject, ...z.ZodObject[]]) as unknown as z.ZodType<Request<T>>;
}

const certAnswer = { cert: pem.max(256 << 10), ca: pem.max(256 << 10) };
/** Answer bodies by request type (each also carries `id` and `ok: true`). */
export const answerBodies = {
  enroll: certAnswer,
  register: { crl: z.string().max(1 << 19), ca: pem.max(256 << 10), heartbeatMs: z.number().int().min(100).max(3600_000) },
  heartbeat: {},
  subscribe: {},
  authorize: { ticket, site: siteAddress, service: z.strictObject({ name: name.or(callRef), proto }) },
  ticket: { user: orgUser, service: serviceRef.or(callAtSite), fromSite: name },
  'session-end': {},
  services: { services: z.array(z.strictObject({ name, proto, groups, site: name, online: z.boolean() })).max(10_000) },
  'user-code': { code, expiresAt: z.iso.datetime() },
  redeem: certAnswer,
  renew: certAnswer,
  'renew-user': certAnswer,
  call: { callId: z.string().regex(/^[a-z2-7]{26}$/), expiresAt: z.iso.datetime() },
} as const satisfies Record<RequestType, z.ZodRawShape>;

export type AnswerBody<T extends RequestType> = z.infer<z.ZodObject<(typeof answerBodies)[T]>>;

export function answerSchema<T extends RequestType>(type: T) {
  return z.strictObject({ id: reqId, ok: z.literal(true), ...answerBodies[type] });
}

/** What a requester receives: an answer (checked against its request's schema later), a refusal, an event, or a reason frame. */
const wireCode = z.string().regex(/^INSEL_[A-Z0-9_]{1,60}$/);
const reason = z.string().max(2000);
export const refusalSchema = z.strictObject({ id: reqId, ok: z.literal(false), code: wireCode, reason });
export const errorFrameSchema = z.strictObject({ type: z.literal('error'), code: wireCode, reason });

const nameRef = z.strictObject({ role: z.string().max(16), name });
export const orgEvent = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('revoked'), serials: z.array(serial).max(100_000), names: z.array(nameRef).max(10_000), crl: z.string().max(1 << 19), reason }),
  z.strictObject({ kind: z.literal('trust'), ca: pem.max(256 << 10) }),
  z.strictObject({ kind: z.literal('services') }),
  z.strictObject({ kind: z.literal('call'), callId: z.string().max(100), from: z.string().max(200), to: z.string().max(200), fromSite: name, service: z.string().max(200) }),
]);
export const eventFrameSchema = z.strictObject({ type: z.literal('event'), event: orgEvent });

