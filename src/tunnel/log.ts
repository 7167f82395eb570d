// What the tunnel daemon says: one line per event, to stderr, at the
// config's `verb` level (0 errors only, 1 normal, 3+ debug).
export interface TunnelLog {
  info(msg: string): void;
  warn(msg: string): void;
  debug(msg: string): void;
}

export function consoleLog(verb: number, prefix = 'insel tunnel'): TunnelLog {
  const line = (level: string, msg: string) => process.stderr.write(`${new Date().toISOString()} ${prefix} ${level}: ${msg}\n`);
  return {
    info: (m) => verb >= 1 && line('info', m),
    warn: (m) => line('warn', m),
    debug: (m) => verb >= 3 && line('debug', m),
  };
}
