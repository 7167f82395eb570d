// tsc drops the executable bit; the bin must be runnable when linked by npm.
import { chmodSync } from 'node:fs';
chmodSync(new URL('../dist/src/cli/main.js', import.meta.url), 0o755);
