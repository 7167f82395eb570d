// One insel-org/1 or insel-enroll/1 connection, either end. The serving end
// (HQ) checks each request against the schema of its ALPN, runs at most
// MAX_OUTSTANDING at once (the next one closes the connection), answers
// each by id and pushes events. The requesting end (a site's HQ link, the
// enrollment client) numbers its requests, keeps at most MAX_OUTSTANDING in
// flight and queues the rest, and checks every answer against its
// request's schema. Either end closes on bad input with a reason frame
// {type: "error", code, reason} first; nothing a peer sends can throw out of
// here, and what it can make us hold is bounded (one frame, 16 requests).
import type { Duplex } from 'node:stream';
import type { z } from 'zod';
import { MAX_OUTSTANDING, MAX_QUEUED, MAX_UNSENT } from './constants.js';
import { OrgRefusedError, WireError } from './errors.js';
import { encodeFrame, FrameDecoder, parseObject } from './frame.js';
import { answerSchema, errorFrameSchema, eventFrameSchema, refusalSchema, type AnswerBody, type Request, type RequestBody, type RequestType } from './messages.js';
import type { OrgEventMessage } from './hq-api.js';

/** How a connection ended: by us or the peer with a reason, or the socket closed. */
export interface CloseInfo {
  code: string;
  reason: string;
  /** the reason came from the peer's error frame */
  byPeer: boolean;
}

interface Pending {
  type: RequestType;
  resolve(body: unknown): void;
  reject(err: Error): void;
}

interface Queued {
  message: object;
  pending: Pending;
}

export interface OrgConnectionOptions {
  /** "host:port" of the peer, for errors and logs */
  peer: string;
  /** called once when the connection has ended, with why */
  onClose?(info: CloseInfo): void;
}

/** The answer body a serving handler returns, or throws OrgRefusedError for `{ok: false}`. */
export type Handler<T extends RequestType> = (req: Request<T>) => Promise<object>;

abstract class OrgConnectionBase {
  protected readonly decoder = new FrameDecoder();
  private closeInfo: CloseInfo | undefined;

  constructor(
    protected readonly socket: Duplex,
    protected readonly o: OrgConnectionOptions,
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => undefined); // 'close' follows and reports
    socket.once('close', () => this.ended({ code: 'INSEL_WIRE_CLOSED', reason: 'the connection closed', byPeer: true }));
  }

  get closed(): boolean {
    return this.closeInfo !== undefined;
  }

  get peer(): string {
    return this.o.peer;
  }

  /** Sends a reason frame and closes. */
  close(code: string, reason: string): void {
    if (this.closeInfo !== undefined) return;
    this.writeFrame({ type: 'error', code, reason });
    this.socket.end();
    // A peer that does not read its reason does not keep the socket: destroyed once written or soon after.
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.ended({ code, reason, byPeer: false });
  }

  protected abstract onMessage(m: Record<string, unknown>): void;
  protected abstract onEnded(info: CloseInfo): void;

  protected writeFrame(message: object): void {
    if (this.socket.destroyed) return;
    this.socket.write(encodeFrame(message));
    if (this.socket.writableLength > MAX_UNSENT) {
      this.socket.destroy();
      this.ended({ code: 'INSEL_WIRE_STALLED', reason: `the peer did not read ${MAX_UNSENT} bytes sent to it`, byPeer: false });
    }
  }

  private receive(chunk: Buffer): void {
    if (this.closeInfo !== undefined) return;
    try {
      for (const payload of this.decoder.push(chunk)) {
        this.onMessage(parseObject(payload));
        if (this.closeInfo !== undefined) return;
      }
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      this.close(err.code, err.reason);
    }
  }

  private ended(info: CloseInfo): void {
    if (this.closeInfo !== undefined) return;
    this.closeInfo = info;
    this.socket.end();
    this.onEnded(info);
    this.o.onClose?.(info);
  }

  /** A peer's reason frame ends the connection with its code and reason. */
  protected peerError(m: Record<string, unknown>): boolean {
    const e = errorFrameSchema.safeParse(m);
    if (!e.success) return false;
    this.socket.end();
    this.ended({ code: e.data.code, reason: e.data.reason, byPeer: true });
    return true;
  }
}

/** The serving end: HQ (insel-org/1 with a verified site, or insel-enroll/1 with anyone). */
export class OrgServerConnection<T extends RequestType> extends OrgConnectionBase {
  private inFlight = 0;

  constructor(
    socket: Duplex,
    o: OrgConnectionOptions,
    private readonly schema: z.ZodType<Request<T>>,
    private readonly handle: Handler<T>,
    /** a handler failed with something other than a refusal: answered as INSEL_ORG_INTERNAL, reported here */
    private readonly onFault: (err: unknown, type: string) => void,
  ) {
    super(socket, o);
  }

  /** Pushes an event (HQ to a subscribed gateway). */
  push(event: OrgEventMessage): void {
    if (!this.closed) this.writeFrame({ type: 'event', event });
  }

  protected onMessage(m: Record<string, unknown>): void {
    if (m.type === 'error' && this.peerError(m)) return;
    const parsed = this.schema.safeParse(m);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
      throw new WireError('INSEL_WIRE_SCHEMA', `${typeof m.type === 'string' ? `${m.type.slice(0, 40)}: ` : ''}${where}${issue?.message ?? 'invalid'}`);
    }
    if (this.inFlight >= MAX_OUTSTANDING) throw new WireError('INSEL_WIRE_OUTSTANDING', `more than ${MAX_OUTSTANDING} requests unanswered; wait for answers`);
    this.inFlight++;
    const req = parsed.data;
    void this.handle(req).then(
      (body) => this.answer({ ...body, id: req.id, ok: true }),
      (err: unknown) => {
        if (err instanceof OrgRefusedError) return this.answer({ id: req.id, ok: false, code: err.code, reason: err.reason });
        this.onFault(err, req.type);
        this.answer({ id: req.id, ok: false, code: 'INSEL_ORG_INTERNAL', reason: `HQ failed to handle ${req.type}; see HQ's log` });
      },
    );
  }

  protected onEnded(): void {}

  private answer(message: object): void {
    this.inFlight--;
    if (!this.closed) this.writeFrame(message);
  }
}

/** The requesting end: a site's HQ link, the enrollment client. */
export class OrgClientConnection extends OrgConnectionBase {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly queue: Queued[] = [];

  constructor(
    socket: Duplex,
    o: OrgConnectionOptions,
    private readonly onEvent: (e: OrgEventMessage) => void = () => undefined,
  ) {
    super(socket, o);
  }

  /** Sends a request; resolves with the answer body, rejects with OrgRefusedError or WireError. */
  request<T extends RequestType>(type: T, body: RequestBody<T>): Promise<AnswerBody<T>> {
    return new Promise<AnswerBody<T>>((resolve, reject) => {
      if (this.closed) return reject(new WireError('INSEL_WIRE_CLOSED', 'the connection is closed', this.peer));
      if (this.queue.length >= MAX_QUEUED) return reject(new WireError('INSEL_WIRE_OUTSTANDING', `${MAX_QUEUED} requests already wait to be sent`, this.peer));
      const id = this.nextId;
      this.nextId = (this.nextId + 1) >>> 0;
      const pending: Pending = { type, resolve: resolve as (b: unknown) => void, reject };
      this.queue.push({ message: { ...body, id, type }, pending });
      this.pump();
    });
  }

  protected onMessage(m: Record<string, unknown>): void {
    if (m.type === 'error' && this.peerError(m)) return;
    if (m.type === 'event') {
      const e = eventFrameSchema.safeParse(m);
      if (!e.success) throw new WireError('INSEL_WIRE_SCHEMA', `event: ${e.error.issues[0]?.message ?? 'invalid'}`);
      this.onEvent(e.data.event);
      return;
    }
    const id = typeof m.id === 'number' ? m.id : -1;
    const p = this.pending.get(id);
    if (p === undefined) throw new WireError('INSEL_WIRE_SCHEMA', `an answer to request ${JSON.stringify(m.id)}, which is not outstanding`);
    if (m.ok === false) {
      const r = refusalSchema.safeParse(m);
      if (!r.success) throw new WireError('INSEL_WIRE_SCHEMA', `refusal of ${p.type}: ${r.error.issues[0]?.message ?? 'invalid'}`);
      this.settle(id);
      p.reject(new OrgRefusedError(r.data.code, r.data.reason, this.peer));
      return;
    }
    const a = answerSchema(p.type).safeParse(m);
    if (!a.success) throw new WireError('INSEL_WIRE_SCHEMA', `answer to ${p.type}: ${a.error.issues[0]?.path.join('.')}: ${a.error.issues[0]?.message ?? 'invalid'}`);
    this.settle(id);
    const { id: _id, ok: _ok, ...body } = a.data;
    p.resolve(body);
  }

  protected onEnded(info: CloseInfo): void {
    const err = new WireError('INSEL_WIRE_CLOSED', `the connection ended before an answer: ${info.reason}${info.byPeer && info.code !== 'INSEL_WIRE_CLOSED' ? ` (${info.code})` : ''}`, this.peer);
    for (const p of this.pending.values()) p.reject(err);
    for (const q of this.queue) q.pending.reject(err);
    this.pending.clear();
    this.queue.length = 0;
  }

  private settle(id: number): void {
    this.pending.delete(id);
    this.pump();
  }

  private pump(): void {
    while (this.pending.size < MAX_OUTSTANDING && this.queue.length > 0 && !this.closed) {
      const q = this.queue.shift()!;
      this.pending.set((q.message as { id: number }).id, q.pending);
      this.writeFrame(q.message);
    }
  }
}
