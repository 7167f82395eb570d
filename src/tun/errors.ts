// Errors of the tunnel's devices and data plane.
import { InselError, type ErrorContext } from '../errors.js';

/** Opening a TUN/TAP device or the data socket failed; the message names the device and a fix. */
export class TunDeviceError extends InselError {
  constructor(code: string, message: string, ctx: ErrorContext = {}) {
    super(code, message, ctx);
  }
}
