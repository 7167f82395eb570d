// `insel verify [--config FILE]`: can this host run `insel tunnel`, and is
// the config's setup in order? One `OK`/`FAIL` line per check (as Openswan's
// `ipsec verify`); the exit status is 1 when any check fails.
import type { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { verifyChecks, type Check } from '../hostnet/verify.js';
import { loadTunnelConfig, type TunnelConfig } from '../tunconfig/index.js';

/** Runs the checks; resolves the lines to print and whether all passed. */
export async function runVerify(configFile?: string): Promise<{ lines: string[]; ok: boolean }> {
  const checks: Check[] = [];
  let config: TunnelConfig | undefined;
  if (configFile !== undefined) {
    try {
      config = loadTunnelConfig(configFile);
      checks.push({ name: `config ${configFile}`, ok: true, detail: `${config.mode} mode, ${config.dev.type}${config.warnings.length > 0 ? `; ${config.warnings.join('; ')}` : ''}` });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      checks.push({ name: `config ${configFile}`, ok: false, detail: err.message });
    }
  }
  checks.push(...(await verifyChecks(config)));
  return { lines: checks.map((c) => `${c.ok ? 'OK  ' : 'FAIL'} ${c.name}: ${c.detail}`), ok: checks.every((c) => c.ok) };
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description("check this host for insel tunnel (TUN device, CAP_NET_ADMIN, ip_forward, nft/iptables) and, with --config, the config's key files, certificates and ports")
    .option('--config <file>', 'a tunnel config (OpenVPN-style directives, or .toml)')
    .action(async (o: { config?: string }) => {
      const { lines, ok } = await runVerify(o.config);
      process.stdout.write(`${lines.join('\n')}\n`);
      if (!ok) process.exitCode = 1;
    });
}
