// `insel services`: what the user may use, as HQ tells its site gateway
// (GET /insel/v1/services).
import { readAll } from '../../forward/session.js';
import type { ServiceInfo } from '../wire/hq-api.js';
import { PATH_SERVICES } from '../site/protocol.js';
import type { UserProfile } from './profile.js';
import { openSiteSession } from './session.js';

export async function listServices(p: UserProfile, warn: (line: string) => void): Promise<ServiceInfo[]> {
  const session = await openSiteSession(p, warn);
  try {
    const answer = await session.request({ ':method': 'GET', ':path': PATH_SERVICES }, true);
    const body = JSON.parse((await readAll(answer.stream, 4 << 20)).toString('utf8')) as { services?: ServiceInfo[] };
    return Array.isArray(body.services) ? body.services : [];
  } finally {
    session.close();
  }
}

/** One line per service: "web@b  tcp  groups eng  online". */
export function formatServices(list: ServiceInfo[]): string {
  if (list.length === 0) return 'no services for you (ask your site admin which groups you need)\n';
  return list.map((s) => `${s.name}@${s.site}\t${s.proto}\tgroups ${s.groups.join(',') || '-'}\t${s.online ? 'online' : 'offline'}\n`).join('');
}
