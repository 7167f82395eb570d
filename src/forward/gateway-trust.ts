// How a client decides that it reached its gateway (PROTOCOL §1.4):
//
//   1. verifyPeer against our CA and the CRL we hold: chain, dates,
//      revocation, and the role: only `server` (not hq, not a site);
//   2. the name: the certificate carries the pinned gateway name
//      (--gateway-name, gateway_name) or else the --via host, as its insel
//      name or a --host name (pki/server-name.ts);
//   3. once the session is up, the gateway's CRL bundle (GET /insel/v1/crl):
//      CA-signed CRLs newer than ours replace ours, on disk too, and the
//      gateway is checked again against them (a fresh CRL only adds
//      revocations; the gateway cannot forge one, pki/crl-refresh.ts);
//   4. the root CRL we then hold must not be past its nextUpdate, unless
//      the user accepts a stale one (then a warning);
//   5. with a trust bundle file to keep (an organization's user profile),
//      the gateway's bundle (GET /insel/v1/ca) replaces ours if it keeps a
//      root we hold (pki/bundle-refresh.ts), on disk too: a CA rollover
//      reaches the user before its site moves onto the new root, and the
//      retired root leaves. A refused bundle is only a warning: ours stays.
import type { TLSSocket } from 'node:tls';
import { mergeBundle, signedByNewest, type BundleChange } from '../pki/bundle-refresh.js';
import { mergeCrls } from '../pki/crl-refresh.js';
import { PkiError } from '../pki/errors.js';
import type { Identity, Role } from '../pki/identity.js';
import { PUBLIC_MODE, writeFileAtomic } from '../pki/store.js';
import { staleCrlError, staleRootCrl, trustFromPem, type Trust } from '../pki/trust.js';
import { verifyServer } from '../tls/verify.js';
import { ForwardError } from './errors.js';
import type { IdentityPem } from '../pki/profile.js';

/** A gateway is a server: a site's or HQ's certificate does not make one. */
export const GATEWAY_ROLES: readonly Role[] = ['server'];

export interface GatewayTrustOptions {
  identity: IdentityPem;
  /** the name the gateway's certificate must carry; default: the --via host */
  gatewayName?: string;
  /** the roles a gateway may have; default GATEWAY_ROLES (an organization's site gateway: ['site']) */
  gatewayRoles?: readonly Role[];
  /** a CRL past its nextUpdate is accepted with a warning instead of refused */
  allowStaleCrl?: boolean;
  /** where a CRL refreshed from the gateway is written; none: it is only used in memory */
  crlFile?: string;
  /** where identity.ca was read from; given: the trust bundle is refreshed from the gateway and written there (step 5) */
  caFile?: string;
  warn?(line: string): void;
}

/** The trust this client starts with: its CA and the CRL it holds. */
export function heldTrust(opts: GatewayTrustOptions): Trust {
  return trustFromPem(opts.identity.ca, opts.identity.crl, opts.crlFile === undefined ? {} : { crl: opts.crlFile });
}

/** Steps 1 and 2: the gateway's identity, or ForwardError INSEL_GATEWAY saying why not. */
export function checkGateway(socket: TLSSocket, trust: Trust, opts: GatewayTrustOptions, viaHost: string, where: string): Identity {
  try {
    const name = opts.gatewayName ?? viaHost;
    return verifyServer(socket, trust, where, { roles: opts.gatewayRoles ?? GATEWAY_ROLES, name, pin: (n) => `pin it with --gateway-name ${n} (gateway_name = "${n}" in forwards.toml)` });
  } catch (err) {
    throw new ForwardError('INSEL_GATEWAY', `refusing gateway ${where}: ${(err as Error).message}`, { peer: where, cause: err });
  }
}

/**
 * Steps 3 and 4, once the session is up: `fetchCrl` asks the gateway for its
 * CRL bundle (undefined: it has none). Returns the CRL PEM now held. Throws
 * ForwardError INSEL_GATEWAY if the gateway is revoked under the fresh CRL or
 * the CRL is stale and not accepted.
 */
export async function refreshTrust(
  fetchCrl: () => Promise<string | undefined>,
  socket: TLSSocket,
  trust: Trust,
  opts: GatewayTrustOptions,
  viaHost: string,
  where: string,
): Promise<string | undefined> {
  const warn = opts.warn ?? (() => undefined);
  let held = trust;
  let pem = opts.identity.crl;
  let fetched: string | undefined;
  try {
    fetched = await fetchCrl();
  } catch (err) {
    warn(`cannot refresh the CRL from gateway ${where}: ${(err as Error).message}`);
  }
  if (fetched !== undefined) {
    try {
      const merged = mergeCrls(trust, pem, fetched, `gateway ${where}`);
      if (merged.updated.length > 0) {
        pem = merged.pem;
        held = trustFromPem(opts.identity.ca, pem, trust.sources);
        store(pem, opts, where, warn);
        checkGateway(socket, held, opts, viaHost, where);
      }
    } catch (err) {
      if (!(err instanceof PkiError)) throw err;
      warn(`ignoring the CRL from gateway ${where}: ${err.message}`);
    }
  }
  const now = new Date();
  const stale = staleRootCrl(held, now);
  if (stale) {
    const e = staleCrlError(stale, now, staleFix(opts));
    if (opts.allowStaleCrl !== true) throw new ForwardError('INSEL_GATEWAY', `refusing gateway ${where}: ${e.message}`, { peer: where, cause: e });
    warn(`${e.message} (accepted: stale CRLs are allowed by --allow-stale-crl / allow_stale_crl)`);
  }
  return pem;
}

/**
 * Step 5: `fetchCa` asks the gateway for its trust bundle (undefined: it has
 * none to hand out). Returns the bundle to hold from now on if it changed
 * (stored in opts.caFile), else undefined. A bundle we refuse or cannot
 * fetch leaves ours, with a warning: the gateway passed under ours already.
 */
export async function refreshBundle(fetchCa: () => Promise<string | undefined>, opts: GatewayTrustOptions & { caFile: string }, where: string): Promise<string | undefined> {
  const warn = opts.warn ?? (() => undefined);
  let change: BundleChange | undefined;
  try {
    const fetched = await fetchCa();
    change = fetched === undefined ? undefined : mergeBundle(opts.identity.ca, fetched, `gateway ${where}`, opts.caFile);
  } catch (err) {
    if (!(err instanceof PkiError) && !(err instanceof ForwardError)) throw err;
    warn(`keeping ${opts.caFile}: ${err instanceof PkiError ? err.message : `cannot fetch the trust bundle from gateway ${where}: ${err.message}`}`);
    return undefined;
  }
  if (change === undefined) return undefined;
  const what = [...change.added.map((r) => `added root CA ${r}`), ...change.dropped.map((r) => `dropped root CA ${r}`)].join('; ') || 'its roots reordered';
  const renew = signedByNewest(opts.identity.cert, change.pem) ? '' : '; your certificate is of an older root: renew it (insel renew) before that root is retired';
  try {
    writeFileAtomic(opts.caFile, change.pem, { mode: PUBLIC_MODE, force: true });
    warn(`the trust bundle changed (CA rollover): ${what}; stored in ${opts.caFile}${renew}`);
  } catch (err) {
    warn(`the trust bundle changed (CA rollover): ${what}; using it for this run only, cannot store it in ${opts.caFile}: ${(err as Error).message}${renew}`);
  }
  return change.pem;
}

function staleFix(opts: GatewayTrustOptions): string {
  const where = opts.crlFile ?? 'the file given with --crl';
  return `refresh it: run insel pki crl where the CA is and copy crl.pem to ${where} and to the gateway (which hands it to its clients); or accept it with a warning: --allow-stale-crl (allow_stale_crl = true in forwards.toml)`;
}

function store(pem: string, opts: GatewayTrustOptions, where: string, warn: (line: string) => void): void {
  if (opts.crlFile === undefined) {
    warn(`using a newer CRL from gateway ${where} for this run only: give --crl FILE (or --profile) to keep it`);
    return;
  }
  try {
    writeFileAtomic(opts.crlFile, pem, { mode: PUBLIC_MODE, force: true });
  } catch (err) {
    warn(`using a newer CRL from gateway ${where}, but cannot store it in ${opts.crlFile}: ${(err as Error).message}`);
  }
}
