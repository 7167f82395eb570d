// `insel tunnel passwd FILE NAME`: sets NAME's password in an `auth-users`
// password file (scrypt; the file is created with mode 0600). The password
// is read from stdin: typed at a terminal without echo, or the first line
// of piped input. A running server picks the change up at the next login.
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { setUserPassword, userNameProblem } from '../tunnel/auth/auth-users-file.js';
import { credentialProblem } from '../tunnel/auth/credentials.js';

export function registerTunnelPasswd(tunnel: Command): void {
  tunnel
    .command('passwd')
    .description('set a user\'s password in an auth-users file (password read from stdin)')
    .argument('<file>', 'the password file (created with mode 0600 if missing)')
    .argument('<name>', 'the username')
    .action(async (file: string, name: string) => {
      const badName = userNameProblem(name);
      if (badName !== undefined) throw new UsageError(`${badName}; choose another username`, { field: 'name' });
      const password = await readPassword();
      const bad = password === '' ? 'the password is empty' : credentialProblem('password', password);
      if (bad !== undefined) throw new UsageError(`${bad}; nothing was changed`, { field: 'password' });
      const done = await setUserPassword(file, name, password);
      process.stdout.write(`${done} ${name} in ${file}\n`);
    });
}

/** The first line of stdin; at a terminal, typed without echo after a prompt. */
async function readPassword(): Promise<string> {
  const stdin = process.stdin;
  if (stdin.isTTY) {
    process.stderr.write('password: ');
    stdin.setRawMode(true);
  }
  let text = '';
  try {
    for await (const chunk of stdin) {
      text += (chunk as Buffer).toString('utf8');
      if (stdin.isTTY && text.includes('\u0003')) throw new UsageError('interrupted; nothing was changed');
      const end = text.search(/[\r\n]/);
      if (end >= 0) return text.slice(0, end);
      if (text.length > 4096) break; // longer than any password we accept: let the bound below say so
    }
  } finally {
    if (stdin.isTTY) {
      stdin.setRawMode(false);
      process.stderr.write('\n');
    }
    stdin.pause();
  }
  return text;
}
