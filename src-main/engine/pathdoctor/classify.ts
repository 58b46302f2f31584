/**
 * From the answers a target gave to the scanner's probes to one class (docs/path-doctor.md
 * "Classes"). Pure: the scanner gathers evidence, this decides, unit tests feed it directly.
 */
import type { ScanClass, ScanRecord } from '../../../shared/path-doctor';
import { countOf } from '../../../shared/units';
import {
  MPC_FLAG_CHECKSUM,
  MPC_FLAG_DENY_JOIN_INITIAL,
  type TcpOption,
} from '../../../shared/packet/tcp-options';

export type ProbeKind = 'v1' | 'v0' | 'plain' | 'join';
export const PROBE_KINDS: readonly ProbeKind[] = ['v1', 'v0', 'plain', 'join'];

export type Reply =
  | {
      kind: 'synack';
      /** The MP_CAPABLE of the SYN/ACK, if it had one. */
      mpc: Extract<TcpOption, { kind: 'mp-capable' }> | null;
    }
  | { kind: 'rst' }
  | { kind: 'icmp'; reason: string };

export interface Evidence {
  v1: Reply | null;
  v0: Reply | null;
  plain: Reply | null;
  join: Reply | null;
  /** Were they sent at all (a plain SYN is only sent when the v1 SYN went unanswered, …). */
  sent: Record<ProbeKind, number>;
  /** Our v0 key (hex), to recognise a box that echoes it. */
  v0KeyHex: string;
}

export interface Verdict {
  class: ScanClass;
  mptcp: ScanRecord['mptcp'];
  join: ScanRecord['join'];
  reason: string;
}

const flagsOf = (
  mpc: NonNullable<Extract<Reply, { kind: 'synack' }>['mpc']>,
): NonNullable<ScanRecord['mptcp']> => ({
  version: mpc.version,
  checksumRequired: (mpc.flags & MPC_FLAG_CHECKSUM) !== 0,
  // RFC 8684 §3.1 bit C; RFC 6824 (v0) has no such bit.
  denyJoinInitialAddress: mpc.version >= 1 && (mpc.flags & MPC_FLAG_DENY_JOIN_INITIAL) !== 0,
});

function describe(r: Reply | null): string {
  if (!r) return 'no answer';
  if (r.kind === 'rst') return 'RST';
  if (r.kind === 'icmp') return `ICMP ${r.reason}`;
  if (!r.mpc) return 'SYN/ACK without MP_CAPABLE';
  return `SYN/ACK with a ${r.mpc.raw.length}-byte MP_CAPABLE v${r.mpc.version}`;
}

export function classify(e: Evidence): Verdict {
  const join: Verdict['join'] =
    e.sent.join === 0
      ? null
      : e.join === null
        ? 'none'
        : e.join.kind === 'rst'
          ? 'rst'
          : e.join.kind === 'synack'
            ? 'synack'
            : 'none';
  const v1 = e.v1;
  const v0 = e.v0;
  const say = (cls: ScanClass, reason: string, mptcp: Verdict['mptcp'] = null): Verdict => ({
    class: cls,
    mptcp,
    join,
    reason,
  });

  // A box that answers with what we sent: the SYN form of MP_CAPABLE (4 bytes, no key) cannot
  // be in a SYN/ACK (RFC 8684 §3.1), and no server would pick the key we chose.
  if (v1?.kind === 'synack' && v1.mpc && v1.mpc.raw.length === 4)
    return say('mirror', 'the SYN/ACK echoes our 4-byte SYN MP_CAPABLE: a middlebox mirrors options');
  if (v0?.kind === 'synack' && v0.mpc && v0.mpc.senderKey === e.v0KeyHex)
    return say('mirror', 'the SYN/ACK carries our own v0 key: a middlebox mirrors options');
  if (v1?.kind === 'synack' && v1.mpc && v1.mpc.version >= 1 && v1.mpc.senderKey !== null)
    return say('mptcp-v1', `v1 SYN answered by ${describe(v1)}`, flagsOf(v1.mpc));
  if (v1?.kind === 'synack' && v1.mpc && v1.mpc.version === 0 && v1.mpc.senderKey !== null)
    return say(
      'mptcp-v0',
      `v1 SYN answered by ${describe(v1)} (the server speaks RFC 6824)`,
      flagsOf(v1.mpc),
    );
  if (v0?.kind === 'synack' && v0.mpc && v0.mpc.version === 0 && v0.mpc.senderKey !== null)
    return say('mptcp-v0', `v1 SYN: ${describe(v1)}; v0 SYN: ${describe(v0)}`, flagsOf(v0.mpc));
  if (v1?.kind === 'synack' || v0?.kind === 'synack')
    return say('tcp', `v1 SYN: ${describe(v1)}${e.sent.v0 ? `; v0 SYN: ${describe(v0)}` : ''}`);
  if (v1?.kind === 'rst') return say('closed', 'v1 SYN answered by RST');
  if (v1?.kind === 'icmp') return say('filtered', `v1 SYN answered by ICMP ${v1.reason}`);
  // The MP_CAPABLE SYN went unanswered after every retry.
  const p = e.plain;
  if (p?.kind === 'synack' || p?.kind === 'rst')
    return say(
      'syn-blackhole',
      `v1 SYN: no answer after ${countOf(e.sent.v1, 'try', 'tries')}; plain SYN: ${describe(p)}`,
    );
  if (p?.kind === 'icmp') return say('filtered', `v1 SYN: no answer; plain SYN: ICMP ${p.reason}`);
  return say(
    'filtered',
    `no answer to ${e.sent.v1} v1 and ${e.sent.plain} plain ${e.sent.v1 + e.sent.plain === 1 ? 'SYN' : 'SYNs'}`,
  );
}
