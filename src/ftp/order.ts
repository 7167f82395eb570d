// Keeps the relay's own replies in order with the server's. An FTP client
// matches replies to commands by position, so a refusal for command n must
// reach it after the server's final replies to commands 1..n-1, even when
// those are still on their way. Each command leaves a slot: a forwarded one
// waits for a final (2xx-5xx) server reply, a refused one holds its reply.
// Preliminary 1xx replies do not fill a slot. The greeting fills the first.

export class ReplyOrder {
  /** null: waiting for the server's final reply; Buffer: the relay's own reply */
  private readonly slots: (Buffer | null)[] = [null];

  /** A command went to the server. */
  forwarded(): void {
    this.slots.push(null);
  }

  /** The relay answers a command itself: returns what may be sent now (nothing, or the reply). */
  local(reply: Buffer): Buffer[] {
    if (this.slots.length === 0) return [reply];
    this.slots.push(reply);
    return [];
  }

  /**
   * The server's final reply was sent: returns the relay's replies now due.
   * A final reply with no slot waiting is unsolicited (421 on timeout) and
   * changes nothing.
   */
  serverFinal(): Buffer[] {
    if (this.slots[0] === null) this.slots.shift();
    return this.releaseLocal();
  }

  /** The server is gone: every held reply is due now. */
  drainAll(): Buffer[] {
    const out = this.slots.filter((s): s is Buffer => s !== null);
    this.slots.length = 0;
    return out;
  }

  /** Commands waiting for any reply; bounds pipelining. */
  get pending(): number {
    return this.slots.length;
  }

  private releaseLocal(): Buffer[] {
    const out: Buffer[] = [];
    while (this.slots.length > 0 && this.slots[0] !== null) out.push(this.slots.shift()!);
    return out;
  }
}

/** Final replies complete a command; 1xx are preliminary (RFC 959 4.2.1). */
export function isFinalCode(code: number): boolean {
  return code >= 200 && code < 600;
}
