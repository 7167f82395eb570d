// `npm install` builds native/ (binding.gyp) with the node-gyp npm bundles.
// The headers, OpenSSL's included, come from this Node's own install
// (<prefix>/include/node) when it has them, so no download is needed;
// otherwise node-gyp fetches the matching set, as it does by default.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';

const prefix = dirname(dirname(process.execPath));
const local = existsSync(join(prefix, 'include', 'node', 'node_api.h'));
const args = ['rebuild', ...(local && !process.env.npm_config_nodedir ? [`--nodedir=${prefix}`] : [])];
const r = spawnSync('node-gyp', args, { stdio: 'inherit', shell: process.platform === 'win32' });
if (r.error) console.error(`node-gyp did not start (${r.error.message}): run the build through npm (\`npm install\`), which provides it`);
process.exit(r.status ?? 1);
