// `insel open svc@site --on-gateway`: asks the user's site gateway to
// listen on the LAN for the service (hosted SAux-C, site/hosted.ts), for
// machines that cannot run insel. The listener lives while this session
// does; its end (Ctrl-C here, a cut there) closes it.
import { formatHostPort } from '../../net/host-port.js';
import { cutReason } from '../../forward/session.js';
import { H_BIND, H_BOUND } from '../../forward/protocol.js';
import { H_SERVICE } from '../site/protocol.js';
import { checkService } from './open.js';
import type { UserProfile } from './profile.js';
import { openSiteSession } from './session.js';

export interface Hosted {
  /** where the gateway listens */
  bound: string;
  /** resolves with why the listener ended */
  ended: Promise<string>;
  close(): void;
}

export async function hostOnGateway(p: UserProfile, service: string, bind: string, port: number, warn: (line: string) => void): Promise<Hosted> {
  checkService(service);
  const session = await openSiteSession(p, warn);
  try {
    const opened = await session.listen({ [H_SERVICE]: service, [H_BIND]: formatHostPort(bind, port) });
    const ended = new Promise<string>((resolve) => {
      opened.stream.once('reset', (code: number, reason: string) => resolve(cutReason(code, reason) ?? `the gateway ended it: ${reason}`));
      session.once('close', (reason: string) => resolve(reason));
    });
    opened.stream.resume();
    return { bound: opened.headers[H_BOUND] ?? '?', ended, close: () => session.close() };
  } catch (err) {
    session.destroy();
    throw err;
  }
}
