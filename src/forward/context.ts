// What a running forward needs from its Forwarder: the current gateway
// session (none while reconnecting) and where to report.
import type { ForwardSession } from './session.js';

export interface ForwardContext {
  session(): ForwardSession | undefined;
  /** always shown: refusals, lost sessions */
  warn(line: string): void;
  /** shown with -v: each connection's fate */
  verbose(line: string): void;
}

export function describeEnd(ms: number, up: number, down: number, end: string): string {
  return `${end} after ${ms} ms, ${up} B up, ${down} B down`;
}
