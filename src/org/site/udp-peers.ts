// A site gateway's SecSockets UDP channels to other sites (site certificate
// both ways, the peer's role `site` and name checked): one channel per
// target site, opened on the first relay flow and shared by all that follow.
// Each relay flow is an OPEN_SERVICE with HQ's ticket on that channel; what
// the peer site answers or sends back goes to the flow's TargetEvents.
//
// Relay flow → peer:  send → DATA on the channel's datagram session (full queue: dropped)
// Peer → relay flow:  OPENED/DENIED settle the open; DATA → events.message;
//                     CLOSE → events.ended; the channel lost → every flow ended
// The OPEN is repeated every 250 ms, at most 8 times (UDP channels lose
// messages); a channel without flows is closed by the ticker after IDLE_CHANNEL_MS.
import type { SecChannel } from '../../secsock/channel.js';
import { connect as secConnect, type ConnectOptions } from '../../secsock/client.js';
import { UdpChannel } from '../../secsock/udp-channel.js';
import type { IdentityPem } from '../../pki/profile.js';
import { parseHostPort } from '../../net/host-port.js';
import { FlowSender } from '../../udpflow/sender.js';
import type { FlowTarget, TargetEvents, TargetVerdict } from '../../udpflow/target.js';
import { encodeClose, encodeOpenService, FlowType, readFlowMessage } from '../../udpflow/wire.js';
import { OPEN_RETRY_MS, OPEN_TRIES } from '../../udpflow/local.js';
import type { SiteAddress } from '../wire/hq-api.js';
import { UdpRelayError } from './udp-errors.js';

/** Relay flows on one channel to a peer site; OPENs beyond are refused here, before the peer sees them. */
export const MAX_FLOWS_PER_PEER = 4096;
/** A channel to a peer without flows for this long is closed. */
const IDLE_CHANNEL_MS = 60_000;
const TICK_MS = OPEN_RETRY_MS;

interface RelayFlow {
  readonly id: number;
  readonly open: Buffer;
  readonly events: TargetEvents;
  state: 'opening' | 'open' | 'closed';
  tries: number;
  /** the peer's answer to the OPEN: undefined is OPENED, a string the refusal */
  settle: ((refusal: string | undefined) => void) | undefined;
}

interface Peer {
  readonly site: string;
  readonly ch: UdpChannel;
  readonly out: FlowSender;
  readonly flows: Map<number, RelayFlow>;
  nextId: number;
  emptySince: number;
}

export interface UdpPeersOptions {
  /** this site's identity: its certificate opens the channels */
  identity: () => IdentityPem;
  /** for tests: how a channel is opened */
  connect?: (o: ConnectOptions) => Promise<SecChannel>;
}

export class UdpPeers {
  private readonly peers = new Map<string, Peer>();
  /** one connect in flight per site, shared by the flows that wait for it */
  private readonly connecting = new Map<string, Promise<Peer>>();
  private readonly ticker: NodeJS.Timeout;
  private readonly connect: (o: ConnectOptions) => Promise<SecChannel>;
  private closed = false;
  /** datagrams the channel's send queue refused, by reason */
  readonly drops: Record<string, number> = {};

  constructor(private readonly opts: UdpPeersOptions) {
    this.connect = opts.connect ?? secConnect;
    this.ticker = setInterval(() => this.tick(Date.now()), TICK_MS);
    this.ticker.unref();
  }

  /** A relay flow to `site`'s `service` with HQ's `ticket`; resolves when the peer site answers (or refuses). */
  async open(site: SiteAddress, service: string, ticket: string, events: TargetEvents): Promise<TargetVerdict> {
    if (site.udp === undefined) return { allow: false, reason: `site ${site.name} takes no UDP relays (its site.toml has no udp_listen)` };
    let peer: Peer;
    try {
      peer = await this.peer(site);
    } catch (err) {
      return { allow: false, reason: `cannot reach site ${site.name} at ${site.udp}: ${(err as Error).message}` };
    }
    if (peer.flows.size >= MAX_FLOWS_PER_PEER) return { allow: false, reason: `too many UDP relays to site ${site.name} (limit ${MAX_FLOWS_PER_PEER})` };
    const id = peer.nextId;
    peer.nextId = peer.nextId === 0xffffffff ? 1 : peer.nextId + 1;
    const f: RelayFlow = { id, open: encodeOpenService(id, service, ticket), events, state: 'opening', tries: 0, settle: undefined };
    const answer = new Promise<string | undefined>((resolve) => (f.settle = resolve));
    peer.flows.set(id, f);
    this.sendOpen(peer, f);
    const refusal = await answer;
    if (refusal !== undefined) return { allow: false, reason: refusal };
    return { allow: true, target: this.target(peer, f), address: `${site.name} (${site.udp})` };
  }

  get channels(): number {
    return this.peers.size;
  }

  close(): Promise<void> {
    this.closed = true;
    clearInterval(this.ticker);
    const all = [...this.peers.values()];
    this.peers.clear();
    return Promise.all(all.map((p) => this.lose(p, 'site gateway shutting down'))).then(() => undefined);
  }

  private target(peer: Peer, f: RelayFlow): FlowTarget {
    return {
      send: (d) => {
        if (f.state === 'open') peer.out.data(f.id, d);
      },
      close: () => {
        if (f.state === 'closed') return;
        f.state = 'closed';
        peer.flows.delete(f.id);
        if (peer.flows.size === 0) peer.emptySince = Date.now();
        peer.out.message(encodeClose(f.id, 'relay ended'));
      },
    };
  }

  private peer(site: SiteAddress): Promise<Peer> {
    const have = this.peers.get(site.name);
    if (have !== undefined && !have.ch.isClosed) return Promise.resolve(have);
    let p = this.connecting.get(site.name);
    if (p === undefined) {
      p = this.dial(site).finally(() => this.connecting.delete(site.name));
      this.connecting.set(site.name, p);
    }
    return p;
  }

  private async dial(site: SiteAddress): Promise<Peer> {
    const at = parseHostPort(site.udp!, `site ${site.name}'s udp address`);
    const ch = await this.connect({ transport: 'udp', host: at.host, port: at.port, identity: this.opts.identity(), peerRoles: ['site'], serverName: site.name });
    if (!(ch instanceof UdpChannel)) {
      void ch.close('site relays need a UDP channel').catch(() => undefined);
      throw new UdpRelayError('INSEL_RELAY_NOT_UDP', `site ${site.name} answered with a ${ch.params.transport} channel; site relays need a UDP channel`, { peer: site.udp });
    }
    if (this.closed) {
      void ch.close('site gateway shutting down').catch(() => undefined);
      throw new UdpRelayError('INSEL_RELAY_CLOSED', 'the site gateway is shutting down');
    }
    const peer: Peer = { site: site.name, ch, out: new FlowSender(ch, (why) => this.drop(why)), flows: new Map(), nextId: 1, emptySince: Date.now() };
    this.peers.set(site.name, peer);
    ch.once('close', (err?: Error) => void this.lose(peer, err?.message ?? (ch.peerCloseReason ? `closed by site ${site.name}: ${ch.peerCloseReason}` : `closed by site ${site.name}`)));
    ch.deliverTo((m) => this.onPeer(peer, m));
    return peer;
  }

  /** The channel ended: every relay flow on it ends, with why. */
  private async lose(peer: Peer, why: string): Promise<void> {
    if (this.peers.get(peer.site) === peer) this.peers.delete(peer.site);
    for (const f of [...peer.flows.values()]) this.finish(peer, f, `channel to site ${peer.site} lost: ${why}`);
    await peer.ch.close(why).catch(() => undefined);
  }

  private onPeer(peer: Peer, buf: Buffer): void {
    const m = readFlowMessage(buf);
    if (m === undefined) return this.drop('malformed');
    const f = peer.flows.get(m.flow);
    if (f === undefined) return this.drop('unknown_flow');
    switch (m.type) {
      case FlowType.DATA:
        if (f.state === 'open') f.events.message(m.body);
        return;
      case FlowType.OPENED:
        if (f.state !== 'opening') return; // a repeated answer
        f.state = 'open';
        f.settle!(undefined);
        return;
      case FlowType.DENIED:
        if (f.state !== 'opening') return;
        this.finish(peer, f, `site ${peer.site} refused: ${m.reason}`);
        return;
      case FlowType.CLOSE:
        this.finish(peer, f, m.reason === '' ? `site ${peer.site} closed the relay` : `site ${peer.site}: ${m.reason}`);
        return;
      default:
        return this.drop('unexpected_type'); // OPEN goes to a site, not from it
    }
  }

  /** Ends a flow here: an open one tells its user flow, an opening one is refused. */
  private finish(peer: Peer, f: RelayFlow, why: string): void {
    const was = f.state;
    f.state = 'closed';
    peer.flows.delete(f.id);
    if (peer.flows.size === 0) peer.emptySince = Date.now();
    if (was === 'opening') f.settle!(why);
    else if (was === 'open') f.events.ended(why);
  }

  private sendOpen(peer: Peer, f: RelayFlow): void {
    f.tries++;
    peer.out.message(f.open);
  }

  private tick(now: number): void {
    for (const peer of this.peers.values()) {
      for (const f of peer.flows.values()) {
        if (f.state !== 'opening') continue;
        if (f.tries < OPEN_TRIES) this.sendOpen(peer, f);
        else this.finish(peer, f, `no answer from site ${peer.site} after ${OPEN_TRIES} tries`);
      }
      if (peer.flows.size === 0 && now - peer.emptySince > IDLE_CHANNEL_MS) void this.lose(peer, 'no relays left');
    }
  }

  private drop(reason: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
  }
}
