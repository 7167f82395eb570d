// OpenVPN's `status FILE [seconds]`: the status as text (status-text.ts),
// rewritten every `seconds` atomically (temporary file, fsync, rename;
// mode 0600), so a reader never sees half a file. Written once at start.
import { writeFileAtomic } from '../../pki/store.js';
import type { StatusSnapshot } from './status-snapshot.js';
import { formatStatusText } from './status-text.js';

export class StatusFileWriter {
  private readonly timer: NodeJS.Timeout;
  private failing = false;

  constructor(
    readonly file: string,
    intervalMs: number,
    private readonly provider: () => StatusSnapshot,
    private readonly warn: (msg: string) => void = (msg) => process.stderr.write(`insel: ${msg}\n`),
  ) {
    this.write();
    this.timer = setInterval(() => this.write(), intervalMs).unref();
  }

  /** Writes now; a failure is logged once until a write succeeds again. */
  write(): void {
    try {
      writeFileAtomic(this.file, formatStatusText(this.provider()), { mode: 0o600, force: true });
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.warn(`cannot write the status file ${this.file}: ${(err as Error).message}`);
      this.failing = true;
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}
