/**
 * Synthetic, schema-valid connection snapshots from a seeded PRNG: for the delta property tests,
 * the wire-size and renderer benchmarks, and the web host's slow-client test. Never used by the
 * app to show anything. `steadyTick` models steady traffic: every subflow's counters and tcp_info
 * move a little each poll, a few connections come and go.
 */
import type { Connection, ConnectionsSnapshot, Subflow } from '../types';
import { mulberry32, pick, type Rand } from './fuzz';

export type { Rand };
/** The seeded PRNG of the fuzz tests (mulberry32): the same seed gives the same snapshots. */
export const prng = mulberry32;
export const randInt = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

export function syntheticSubflow(r: Rand, token: number, i: number, remotePort: number): Subflow {
  const backup = r() < 0.2;
  const v6 = r() < 0.2;
  return {
    family: v6 ? 'inet6' : 'inet',
    state: 'ESTABLISHED',
    localAddress: v6 ? `fd00:${i + 1}::1` : `10.${i % 250}.${randInt(r, 0, 250)}.1`,
    localPort: randInt(r, 1024, 65535),
    remoteAddress: v6 ? `fd00:${i + 1}::2` : `10.${i % 250}.${randInt(r, 0, 250)}.2`,
    remotePort,
    ifindex: 0,
    tokenLocal: token,
    tokenRemote: i === 0 ? 0 : randInt(r, 1, 0xffffffff),
    localId: i,
    remoteId: i,
    flags: {
      mcapRem: i === 0,
      mcapLoc: i === 0,
      joinRem: i > 0,
      joinLoc: i > 0,
      backupRem: backup,
      backupLoc: false,
      fullyEstablished: true,
      connected: true,
      mapValid: r() < 0.5,
    },
    rawFlags: randInt(r, 0, 0x1ff),
    backup,
    congestionControl: pick(r, ['cubic', 'bbr', 'reno', null]),
    rttUs: randInt(r, 20, 200_000),
    rttVarUs: randInt(r, 5, 50_000),
    minRttUs: randInt(r, 10, 20_000),
    cwndPkts: randInt(r, 1, 2000),
    ssthreshPkts: r() < 0.3 ? null : randInt(r, 2, 5000),
    mssBytes: pick(r, [1448, 1428, 65483]),
    pmtuBytes: pick(r, [1500, 65535]),
    rtoUs: randInt(r, 200_000, 1_000_000),
    unackedPkts: randInt(r, 0, 100),
    lostPkts: randInt(r, 0, 5),
    totalRetransPkts: randInt(r, 0, 1000),
    bytesAcked: randInt(r, 0, 2 ** 40),
    bytesReceived: randInt(r, 0, 2 ** 40),
    bytesSent: randInt(r, 0, 2 ** 40),
    bytesRetrans: randInt(r, 0, 2 ** 30),
    deliveryRateBytesPerSec: randInt(r, 0, 2 ** 30),
    pacingRateBytesPerSec: r() < 0.1 ? null : randInt(r, 0, 2 ** 32),
    ifname: null,
    // Not drawn from r: the seeded sequences that tests and benches rely on stay as they were.
    backoffCount: 0,
    probesCount: 0,
    deliveryRateAppLimited: backup,
    lastDataSentAtMs: null,
    lastDataRecvAtMs: null,
    lastAckRecvAtMs: null,
  };
}

export function syntheticConnection(r: Rand, token: number, subflows = randInt(r, 0, 4)): Connection {
  const remotePort = randInt(r, 1, 65535);
  const subs = Array.from({ length: subflows }, (_, i) => syntheticSubflow(r, token, i, remotePort));
  return {
    token,
    family: 'inet',
    state: pick(r, ['ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED', 'CLOSE_WAIT', 'SYN_SENT']),
    localAddress: `10.0.${randInt(r, 0, 250)}.1`,
    localPort: randInt(r, 1024, 65535),
    remoteAddress: `10.0.${randInt(r, 0, 250)}.2`,
    remotePort,
    inode: randInt(r, 1, 0xffffffff),
    subflowsTotal: subflows,
    fallback: r() < 0.05,
    remoteKeyReceived: true,
    addAddrSignal: randInt(r, 0, 8),
    addAddrAccepted: randInt(r, 0, 8),
    subflowsMax: 8,
    checksumEnabled: r() < 0.1,
    retransmits: randInt(r, 0, 10),
    bytesSent: randInt(r, 0, 2 ** 42),
    bytesReceived: randInt(r, 0, 2 ** 42),
    bytesAcked: randInt(r, 0, 2 ** 42),
    bytesRetrans: randInt(r, 0, 2 ** 32),
    subflows: subs,
  };
}

export function syntheticSnapshot(
  r: Rand,
  connections: number,
  takenAtMs = 1_700_000_000_000,
  subflowsPer?: number,
): ConnectionsSnapshot {
  const used = new Set<number>();
  const conns: Connection[] = [];
  while (conns.length < connections) {
    const token = randInt(r, 1, 0xffffffff);
    if (used.has(token)) continue;
    used.add(token);
    conns.push(syntheticConnection(r, token, subflowsPer));
  }
  return { takenAtMs, pollDurationUs: randInt(r, 100, 50_000), connections: conns, orphanSubflows: 0 };
}

/** Steady traffic over `dtMs`: counters grow, RTT/cwnd wobble; `churn` of connections are replaced. */
export function steadyTick(
  r: Rand,
  s: ConnectionsSnapshot,
  dtMs: number,
  churn = 0.002,
): ConnectionsSnapshot {
  const used = new Set(s.connections.map((c) => c.token));
  const connections = s.connections.map((c): Connection => {
    if (r() < churn) {
      let token = randInt(r, 1, 0xffffffff);
      while (used.has(token)) token = randInt(r, 1, 0xffffffff);
      used.add(token);
      return syntheticConnection(r, token, c.subflows.length);
    }
    let sent = 0;
    const subflows = c.subflows.map((sf): Subflow => {
      const bytes = Math.round((randInt(r, 50_000, 150_000) * dtMs) / 1000);
      sent += bytes;
      return {
        ...sf,
        rttUs: Math.max(10, sf.rttUs + randInt(r, -200, 200)),
        rttVarUs: Math.max(1, sf.rttVarUs + randInt(r, -50, 50)),
        cwndPkts: Math.max(1, sf.cwndPkts + randInt(r, -2, 2)),
        unackedPkts: randInt(r, 0, 20),
        bytesAcked: sf.bytesAcked + bytes,
        bytesSent: sf.bytesSent + bytes,
        bytesReceived: sf.bytesReceived + Math.round(bytes / 20),
        deliveryRateBytesPerSec: randInt(r, 50_000, 150_000),
        pacingRateBytesPerSec: sf.pacingRateBytesPerSec === null ? null : randInt(r, 100_000, 300_000),
        lastDataSentAtMs: s.takenAtMs + dtMs,
        lastAckRecvAtMs: s.takenAtMs + dtMs,
      };
    });
    return {
      ...c,
      bytesSent: c.bytesSent + sent,
      bytesAcked: c.bytesAcked + sent,
      bytesReceived: c.bytesReceived + Math.round(sent / 20),
      subflows,
    };
  });
  return {
    takenAtMs: s.takenAtMs + dtMs,
    pollDurationUs: randInt(r, 100, 50_000),
    connections,
    orphanSubflows: 0,
  };
}
