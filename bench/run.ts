// `npm run bench -- NAME [OPTIONS]`: runs one benchmark and prints its table.
// Each benchmark measures its baseline in the same run and reports ratios.
import { secsock } from './secsock.js';
import { forward } from './forward.js';
import { tunnel } from './tunnel.js';
import { org } from './org.js';

const BENCHES: Record<string, (argv: readonly string[]) => Promise<void>> = { secsock, forward, tunnel, org };

const name = process.argv[2];
const bench = name === undefined ? undefined : BENCHES[name];
if (bench === undefined) {
  process.stderr.write(`usage: npm run bench -- NAME, where NAME is one of: ${Object.keys(BENCHES).join(', ')}\n`);
  process.exit(2);
}
await bench(process.argv.slice(3));
