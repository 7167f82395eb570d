// A second process for the registry suite: opens the registry named by
// argv[2] (OpenOptions as JSON), says "ready", and on any input redeems code
// "race" (secret "s") 25 times at once, publishes {child, done}, prints one
// JSON line with each redeem's outcome ('ok' or why it failed) and exits.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { openRegistry } from './registry.js';
import type { OpenOptions } from './types.js';

const registry = await openRegistry(JSON.parse(process.argv[2]!) as OpenOptions);
process.stdout.write('ready\n');
await once(process.stdin, 'data');
const secret = createHash('sha256').update('s').digest();
const now = new Date(Number(process.argv[3]));
const results = await Promise.all(Array.from({ length: 25 }, () => registry.redeemCode('race', secret, now)));
await registry.publish({ kind: 'child', subject: 'done' });
process.stdout.write(`${JSON.stringify(results.map((r) => (r.ok ? 'ok' : r.why)))}\n`);
await registry.close();
process.stdin.destroy();
