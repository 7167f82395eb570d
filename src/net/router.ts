// A dispatch table that protocols register with: the gateway routes each
// verified TLS connection by its ALPN name, and the forward protocol routes
// each request by its kind. The organization's relays register the same
// way later; nothing here knows a protocol.
import { InselError } from '../errors.js';

export class Router<H> {
  private readonly routes = new Map<string, H>();

  /** `what` names the keys in errors: "ALPN protocol", "forward request". */
  constructor(private readonly what: string) {}

  /** Adds a route; a name registered twice is a programming error. */
  register(name: string, handler: H): this {
    if (this.routes.has(name)) throw new InselError('INSEL_ROUTE_TAKEN', `${this.what} ${name} is registered twice`);
    this.routes.set(name, handler);
    return this;
  }

  /** The handler for `name`, or undefined: the caller refuses with its own reason. */
  route(name: string): H | undefined {
    return this.routes.get(name);
  }

  /** Registered names, in registration order (the server's ALPN preference). */
  get names(): string[] {
    return [...this.routes.keys()];
  }
}
