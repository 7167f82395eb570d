// Flow messages onto a UDP channel's datagram session: one flow message is
// one packet, sealed and sent synchronously (no promise per datagram); a
// DATA header is sealed in front of the datagram, which is not copied. Only a
// datagram too large for one packet goes through the message channel's
// fragmentation, a bounded number at a time. Backpressure is the session's:
// a full send queue drops the datagram, as a full kernel buffer would.
import type { UdpChannel } from '../secsock/udp-channel.js';
import { encodeData, FLOW_HEADER_SIZE, FlowType, writeFlowHeader } from './wire.js';

/** Oversize datagrams being fragmented at once per channel; beyond, dropped. */
const MAX_FRAGMENTED_IN_FLIGHT = 64;

export class FlowSender {
  private readonly head = Buffer.alloc(FLOW_HEADER_SIZE);
  private fragmenting = 0;
  private readonly done = () => void this.fragmenting--;
  private readonly failed = () => {
    this.fragmenting--;
    this.dropped();
  };

  constructor(
    readonly ch: UdpChannel,
    /** Called for each message that could not be sent, and why. */
    private readonly onDrop: (reason: 'channel_closed' | 'channel_busy') => void,
  ) {}

  /** One datagram of a flow. */
  data(flow: number, datagram: Buffer): void {
    if (FLOW_HEADER_SIZE + datagram.length > this.ch.session.room) return this.fragmented(encodeData(flow, datagram));
    if (!this.ch.session.sendPacket(datagram, writeFlowHeader(this.head, FlowType.DATA, flow))) this.dropped();
  }

  /** An encoded flow message (OPEN, OPENED, DENIED, CLOSE: they fit one packet at any datagram size). */
  message(m: Buffer): void {
    if (m.length > this.ch.session.room) return this.fragmented(m);
    if (!this.ch.session.sendPacket(m)) this.dropped();
  }

  private fragmented(m: Buffer): void {
    if (this.ch.isClosed || this.fragmenting >= MAX_FRAGMENTED_IN_FLIGHT) return this.dropped();
    this.fragmenting++;
    this.ch.send(m).then(this.done, this.failed);
  }

  private dropped(): void {
    this.onDrop(this.ch.isClosed ? 'channel_closed' : 'channel_busy');
  }
}
