// A site gateway's own failures: a bad site.toml is a ConfigError; these are
// the rest (a limit, a site that cannot be reached), each with its code.
import { InselError } from '../../errors.js';

export type SiteErrorCode = 'INSEL_LIMIT' | 'INSEL_ORG_SITE_UNREACHABLE' | 'INSEL_ORG_NOT_REGISTERED';

export class SiteError extends InselError {
  constructor(code: SiteErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(code, message, opts);
  }
}
