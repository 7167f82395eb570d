// Joins two byte streams both ways with backpressure (pipe honours
// write() === false and 'drain'), counts bytes, propagates half-close, and
// settles once both ends are gone, saying which end finished first.
import type { Duplex } from 'node:stream';

export interface SpliceResult {
  /** bytes from `client` to `target` */
  up: number;
  /** bytes from `target` to `client` */
  down: number;
  /** why it ended: "client closed", "target closed", an error, or what `cut` said */
  end: string;
}

export interface Splice {
  done: Promise<SpliceResult>;
  /** Ends both sides now, recording `reason`. */
  cut(reason: string): void;
}

export function splice(client: Duplex, target: Duplex): Splice {
  const r: SpliceResult = { up: 0, down: 0, end: '' };
  const why = (s: string) => {
    if (r.end === '') r.end = s;
  };
  client.on('data', (b: Buffer) => void (r.up += b.length));
  target.on('data', (b: Buffer) => void (r.down += b.length));
  client.on('end', () => why('client closed'));
  target.on('end', () => why('target closed'));
  client.on('error', (e: Error) => {
    why(`client error: ${e.message}`);
    target.destroy();
  });
  target.on('error', (e: Error) => {
    why(`target error: ${e.message}`);
    client.destroy();
  });
  const closed = (s: Duplex) => new Promise<void>((resolve) => (s.destroyed && s.closed ? resolve() : s.once('close', () => resolve())));
  // One end closing without an orderly end (reset) takes the other with it.
  client.once('close', () => {
    why('client closed');
    if (!client.readableEnded || !client.writableFinished) target.destroy();
  });
  target.once('close', () => {
    why('target closed');
    if (!target.readableEnded || !target.writableFinished) client.destroy();
  });
  // An end that went away before we got here (the local client gave up while
  // the gateway answered) takes the other with it, or that one stays open.
  if (client.destroyed) {
    why('client closed');
    target.destroy();
  } else if (target.destroyed) {
    why('target closed');
    client.destroy();
  }
  client.pipe(target);
  target.pipe(client);
  client.resume();
  target.resume();
  return {
    done: Promise.all([closed(client), closed(target)]).then(() => r),
    cut(reason) {
      why(reason);
      client.destroy();
      target.destroy();
    },
  };
}
