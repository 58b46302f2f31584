/**
 * Lab-only scripted servers made with the probe engine (the helper in the server namespace and
 * the packet codecs): an RFC 6824 (v0) MPTCP server and a middlebox that mirrors TCP options.
 * They answer SYNs to their port with a SYN/ACK and nothing else (no connection follows: the
 * scanner only needs the handshake). The kernel of that namespace must not answer those ports
 * itself (PathDoctorLab drops them in INPUT; a packet socket sees them before that).
 */
import { randomBytes } from 'node:crypto';
import { buildTcpPacket, TCP_ACK, TCP_SYN } from '../../shared/packet/packet';
import { parsePacket } from '../../shared/packet/parse';
import {
  encodeTcpOptions,
  findOption,
  MPC_FLAG_CHECKSUM,
  MPC_V0_FLAG_HMAC_SHA1,
} from '../../shared/packet/tcp-options';
import { RawProbeHelper } from '../engine/pathdoctor/helper';

export interface RawResponders {
  /** SYNs answered, per port. */
  answered: Map<number, number>;
  close(): Promise<void>;
}

export async function startRawResponders(
  netns: string,
  ports: { v0: number; mirror: number },
): Promise<RawResponders> {
  const helper = await RawProbeHelper.open({ ratePps: 10_000, netns });
  const key = new Uint8Array(randomBytes(8));
  const answered = new Map<number, number>();
  helper.onPacket((p) => {
    const pkt = parsePacket(p.bytes);
    if (pkt?.kind !== 'tcp' || (pkt.tcp.flags & (TCP_SYN | TCP_ACK)) !== TCP_SYN) return;
    const { ip, tcp } = pkt;
    let options: Uint8Array;
    if (tcp.dstPort === ports.mirror) {
      options = tcp.optionArea; // everything we were sent, MP_CAPABLE included
    } else if (tcp.dstPort === ports.v0) {
      const mpc = findOption(tcp.options, 'mp-capable');
      const ts = findOption(tcp.options, 'timestamp');
      // An RFC 6824 server answers a v0 MP_CAPABLE with its own key and ignores other versions.
      options = encodeTcpOptions([
        { kind: 'mss', mss: 1460 },
        { kind: 'sack-permitted' },
        { kind: 'timestamp', tsVal: 1000, tsEcr: ts?.tsVal ?? 0 },
        { kind: 'nop' },
        { kind: 'wscale', shift: 7 },
        ...(mpc?.version === 0
          ? [
              {
                kind: 'mp-capable' as const,
                version: 0,
                flags: MPC_FLAG_CHECKSUM | MPC_V0_FLAG_HMAC_SHA1,
                senderKey: key,
              },
            ]
          : []),
      ]);
    } else return;
    helper.send(
      buildTcpPacket({
        src: ip.dstBytes,
        dst: ip.srcBytes,
        srcPort: tcp.dstPort,
        dstPort: tcp.srcPort,
        seq: randomBytes(4).readUInt32BE(0),
        ack: (tcp.seq + 1) >>> 0,
        flags: TCP_SYN | TCP_ACK,
        window: 65160,
        ttl: 64,
        options,
      }),
    );
    answered.set(tcp.dstPort, (answered.get(tcp.dstPort) ?? 0) + 1);
  });
  return { answered, close: () => helper.close() };
}
