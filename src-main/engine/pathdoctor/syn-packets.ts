/** The SYNs the scanner and the trace send: Linux's option layout, with or without MPTCP. */
import { buildTcpPacket, TCP_SYN } from '../../../shared/packet/packet';
import {
  encodeTcpOptions,
  linuxSynOptions,
  mpCapableV0Syn,
  mpCapableV1Syn,
  type TcpOptionSpec,
} from '../../../shared/packet/tcp-options';
import type { ProbeKind } from './classify';

export interface SynSpec {
  kind: ProbeKind;
  src: Uint8Array;
  dst: Uint8Array;
  srcPort: number;
  dstPort: number;
  seq: number;
  ttl: number;
  id: number;
  tsVal: number;
  v0Key?: Uint8Array;
  joinToken?: number;
  joinNonce?: number;
}

/** The MSS a Linux client on a 1500-byte Ethernet link announces (IPv4; IPv6 is 20 less). */
export const PROBE_MSS_V4 = 1460;
export const PROBE_MSS_V6 = 1440;
export const PROBE_WSCALE = 7;
export const PROBE_WINDOW = 64240;

export function mptcpOptionFor(
  s: Pick<SynSpec, 'kind' | 'v0Key' | 'joinToken' | 'joinNonce'>,
): TcpOptionSpec | null {
  switch (s.kind) {
    case 'v1':
      return mpCapableV1Syn();
    case 'v0':
      return mpCapableV0Syn(s.v0Key ?? new Uint8Array(8));
    case 'join':
      return {
        kind: 'mp-join-syn',
        backup: false,
        addressId: 1,
        token: s.joinToken ?? 0,
        nonce: s.joinNonce ?? 0,
      };
    case 'plain':
      return null;
  }
}

export function buildSyn(s: SynSpec): Uint8Array {
  const options = encodeTcpOptions(
    linuxSynOptions({
      mss: s.src.length === 16 ? PROBE_MSS_V6 : PROBE_MSS_V4,
      tsVal: s.tsVal,
      wscale: PROBE_WSCALE,
      mptcp: mptcpOptionFor(s),
    }),
  );
  return buildTcpPacket({
    src: s.src,
    dst: s.dst,
    srcPort: s.srcPort,
    dstPort: s.dstPort,
    seq: s.seq,
    flags: TCP_SYN,
    window: PROBE_WINDOW,
    ttl: s.ttl,
    id: s.id,
    options,
  });
}
