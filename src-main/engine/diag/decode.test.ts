import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Connection, Subflow } from '../../../shared/types';
import { ConnectionsSnapshotSchema } from '../../../shared/types';
import {
  decodeInetDiagMsg,
  decodeMptcpInfo,
  decodeTcpInfo,
  formatAddress,
  SnapshotBuilder,
  subflowFlagLetters,
} from './decode';

/**
 * Recorded by src-main/lab/probes/record-diag-fixture.ts in a 2-path lab on 6.18.44 (client namespace). The expected values
 * below were read off the `ss -tinaM` output stored in the same file, taken right after the dump.
 */
interface Fixture {
  ss: string;
  mptcp: string[];
  tcp: string[];
}
const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, 'fixtures', 'poll-lab.json'), 'utf8'),
) as Fixture;
const msgs = (hex: string[]): Buffer[] => hex.map((h) => Buffer.from(h, 'hex'));
const NLMSG_HDRLEN = 16;

function decodeFixture(): SnapshotBuilder {
  const b = new SnapshotBuilder();
  for (const m of msgs(fixture.mptcp)) b.onMptcp(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN);
  for (const m of msgs(fixture.tcp)) b.onTcp(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN);
  return b;
}

const byToken = (cs: Connection[], token: number): Connection => {
  const c = cs.find((x) => x.token === token);
  if (!c) throw new Error(`no connection ${token.toString(16)}`);
  return c;
};
const subflowAt = (c: Connection, localAddress: string, localPort: number): Subflow => {
  const s = c.subflows.find((x) => x.localAddress === localAddress && x.localPort === localPort);
  if (!s) throw new Error(`no subflow ${localAddress}:${localPort}`);
  return s;
};

describe('recorded poll (lab, 6.18)', () => {
  const b = decodeFixture();
  const cs = b.connections;

  it('finds the four connections and attaches all seven subflows by token', () => {
    expect(cs.map((c) => c.token.toString(16)).sort()).toEqual([
      '20e1f369',
      '2ba2865f',
      '4e435394',
      '85ae63cc',
    ]);
    expect(b.orphanSubflows).toBe(0);
    for (const c of cs) {
      expect(c.subflows.length).toBe(c.subflowsTotal);
      for (const s of c.subflows) expect(s.tokenLocal).toBe(c.token);
    }
    expect(cs.reduce((n, c) => n + c.subflows.length, 0)).toBe(7);
    expect(() =>
      ConnectionsSnapshotSchema.parse({
        takenAtMs: 0,
        pollDurationUs: 0,
        connections: cs,
        orphanSubflows: 0,
      }),
    ).not.toThrow();
  });

  it('decodes the MPTCP connection with a join on the second path', () => {
    const c = byToken(cs, 0x20e1f369);
    expect(c).toMatchObject({
      family: 'inet',
      state: 'ESTABLISHED',
      localAddress: '10.99.1.1',
      localPort: 33542,
      remoteAddress: '10.99.1.2',
      remotePort: 5201,
      subflowsTotal: 2,
      fallback: false,
      remoteKeyReceived: true,
      addAddrAccepted: 1,
      subflowsMax: 1,
      checksumEnabled: false,
    });
    const initial = subflowAt(c, '10.99.1.1', 33542);
    expect(initial).toMatchObject({
      remoteAddress: '10.99.1.2',
      remotePort: 5201,
      tokenRemote: 0,
      localId: 0,
      remoteId: 0,
    });
    expect(subflowFlagLetters(initial.rawFlags)).toBe('Mmec');
    expect(initial.flags).toMatchObject({
      mcapRem: true,
      mcapLoc: true,
      joinLoc: false,
      fullyEstablished: true,
      connected: true,
    });
    const join = subflowAt(c, '10.99.2.1', 37601);
    expect(join).toMatchObject({
      family: 'inet',
      remoteAddress: '10.99.2.2',
      remotePort: 5201,
      tokenRemote: 0xad5cbb6b,
      localId: 1,
      remoteId: 1,
      rawFlags: 0xcc,
      backup: false,
      congestionControl: 'bbr',
      // ss: rto:236 rtt:32.703/17.295 mss:1448 pmtu:1500 cwnd:8 ssthresh:136 bytes_sent:22500 bytes_acked:22501
      rtoUs: 236_000,
      rttUs: 32_703,
      rttVarUs: 17_295,
      mssBytes: 1448,
      pmtuBytes: 1500,
      cwndPkts: 8,
      ssthreshPkts: 136,
      bytesSent: 22_500,
      bytesAcked: 22_501,
      minRttUs: 20, // minrtt:0.02
      pacingRateBytesPerSec: 713_456 / 8, // pacing_rate 713456bps
      deliveryRateBytesPerSec: Math.floor(263_856 / 8), // delivery_rate 263856bps
    });
    expect(subflowFlagLetters(join.rawFlags)).toBe('Jjec');
  });

  it('decodes the fallback connection (MPTCP client, plain-TCP server)', () => {
    const c = byToken(cs, 0x85ae63cc);
    expect(c).toMatchObject({ fallback: true, remoteKeyReceived: false, subflowsTotal: 1, remotePort: 5301 });
    expect(c.subflows).toHaveLength(1);
    const s = c.subflows[0]!;
    expect(subflowFlagLetters(s.rawFlags)).toBe('mc');
    // ss: rto:244 rtt:43.92/0.222 cwnd:8 ssthresh:136 bytes_sent:19700 bytes_acked:19301 unacked:1 minrtt:0.011
    expect(s).toMatchObject({
      localPort: 44216,
      rawFlags: 0x82,
      rtoUs: 244_000,
      rttUs: 43_920,
      rttVarUs: 222,
      cwndPkts: 8,
      ssthreshPkts: 136,
      bytesSent: 19_700,
      bytesAcked: 19_301,
      unackedPkts: 1,
      minRttUs: 11,
      pacingRateBytesPerSec: 325_536 / 8,
    });
  });

  it('decodes AF_INET6 connections, IPv6 proper and v4-mapped, with an IPv4 join', () => {
    const v6 = byToken(cs, 0x2ba2865f);
    expect(v6).toMatchObject({
      family: 'inet6',
      localAddress: 'fd99:1::1',
      remoteAddress: 'fd99:1::2',
      localPort: 58002,
      remotePort: 5202,
    });
    const first = subflowAt(v6, 'fd99:1::1', 58002);
    expect(first).toMatchObject({
      family: 'inet6',
      mssBytes: 1428,
      rttUs: 152,
      rttVarUs: 100,
      cwndPkts: 18,
      ssthreshPkts: null,
    });
    expect(subflowAt(v6, '10.99.2.1', 54135)).toMatchObject({
      family: 'inet',
      tokenRemote: 0x4e9728b9,
      remotePort: 5202,
    });

    const mapped = byToken(cs, 0x4e435394);
    expect(mapped).toMatchObject({
      family: 'inet6',
      localAddress: '::ffff:10.99.1.1',
      remoteAddress: '::ffff:10.99.1.2',
      localPort: 38116,
    });
    expect(subflowAt(mapped, '::ffff:10.99.1.1', 38116).tokenRemote).toBe(0);
    expect(subflowAt(mapped, '10.99.2.1', 33461).tokenRemote).toBe(0xb671c1fa);
  });

  it('agrees with the recorded ss output on every subflow line', () => {
    // "tcp ESTAB 0 0 <local> <peer>\n\t ... tcp-ulp-mptcp flags:<f> token:<rem>(id:<r>)/<loc>(id:<l>)"
    const re =
      /^tcp\s+\S+\s+\d+\s+\d+\s+\[?([^\s\]]+?)\]?:(\d+)\s+\S+\n[^\n]*?mss:(\d+)[^\n]*?cwnd:(\d+)[^\n]*tcp-ulp-mptcp flags:(\S+) token:([0-9a-f]+)\(id:(\d+)\)\/([0-9a-f]+)\(id:(\d+)\)/gm;
    const all = cs.flatMap((c) => c.subflows);
    let n = 0;
    for (const m of fixture.ss.matchAll(re)) {
      const [, addr, port, mss, cwnd, flags, rem, remId, loc, locId] = m;
      const s = all.find((x) => x.localAddress === addr && x.localPort === Number(port));
      expect(s, `${addr}:${port}`).toBeDefined();
      expect(subflowFlagLetters(s!.rawFlags)).toBe(flags);
      expect(s!.tokenRemote).toBe(parseInt(rem!, 16));
      expect(s!.tokenLocal).toBe(parseInt(loc!, 16));
      expect([s!.remoteId, s!.localId]).toEqual([Number(remId), Number(locId)]);
      expect(s!.mssBytes).toBe(Number(mss));
      expect(Math.abs(s!.cwndPkts - Number(cwnd))).toBeLessThanOrEqual(10);
      n++;
    }
    expect(n).toBe(7);
  });

  it('reads the health inputs as ss shows them: lastsnd/lastrcv/lastack, app_limited, backoff', () => {
    // The ages become times against the dump's clock (nowMs); ss ran right after the dump, so its
    // ages are the same or a few ms older.
    const nowMs = 1_800_000_000_000;
    const built = new SnapshotBuilder({ nowMs });
    for (const m of msgs(fixture.mptcp)) built.onMptcp(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN);
    for (const m of msgs(fixture.tcp)) built.onTcp(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN);
    const all = built.connections.flatMap((c) => c.subflows);
    const re = /^tcp\s+\S+\s+\d+\s+\d+\s+\[?([^\s\]]+?)\]?:(\d+)\s+\S+\n([^\n]*)/gm;
    let n = 0;
    let appLimited = 0;
    for (const [, addr, port, info] of fixture.ss.matchAll(re)) {
      const s = all.find((x) => x.localAddress === addr && x.localPort === Number(port))!;
      const num = (k: string): number => Number(new RegExp(`\\b${k}:(\\d+)`).exec(info!)?.[1] ?? 0);
      const near = (atMs: number | null, ssAgeMs: number, what: string): void => {
        const age = nowMs - atMs!;
        expect(age, `${addr}:${port} ${what}`).toBeLessThanOrEqual(ssAgeMs);
        expect(age, `${addr}:${port} ${what}`).toBeGreaterThanOrEqual(ssAgeMs - 20);
      };
      near(s.lastDataSentAtMs, num('lastsnd'), 'lastsnd');
      near(s.lastDataRecvAtMs, num('lastrcv'), 'lastrcv');
      near(s.lastAckRecvAtMs, num('lastack'), 'lastack');
      expect(s.deliveryRateAppLimited, `${addr}:${port} app_limited`).toBe(/\bapp_limited\b/.test(info!));
      expect(s.backoffCount).toBe(num('backoff'));
      expect(s.probesCount).toBe(0);
      if (s.deliveryRateAppLimited) appLimited++;
      n++;
    }
    expect(n).toBe(7);
    expect(appLimited).toBe(4); // the test checks both values of the bit
  });

  it('counts subflows whose connection is missing as orphans', () => {
    const only = new SnapshotBuilder();
    for (const m of msgs(fixture.tcp)) only.onTcp(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN);
    expect(only.connections).toHaveLength(0);
    expect(only.orphanSubflows).toBe(7);
  });

  it('decodes the reply header', () => {
    const m = msgs(fixture.mptcp).find((x) => x.readUInt16BE(NLMSG_HDRLEN + 6) === 5301)!;
    expect(decodeInetDiagMsg(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN)).toEqual({
      family: 2,
      state: 1,
      localAddress: '10.99.1.1',
      localPort: 44216,
      remoteAddress: '10.99.1.2',
      remotePort: 5301,
      ifindex: 0,
      inode: 18913,
    });
    expect(decodeInetDiagMsg(m, NLMSG_HDRLEN, 71)).toBeNull();
  });
});

describe('truncated and corrupt input', () => {
  it('never throws and never reads past the end, at any truncation', () => {
    for (const [kind, list] of [
      ['mptcp', msgs(fixture.mptcp)],
      ['tcp', msgs(fixture.tcp)],
    ] as const) {
      for (const m of list) {
        for (let cut = 0; cut <= m.length; cut++) {
          // The view ends where the buffer ends, so any out-of-bounds read would throw RangeError.
          const view = m.subarray(0, cut);
          const b = new SnapshotBuilder();
          const len = Math.max(0, cut - NLMSG_HDRLEN);
          expect(() =>
            kind === 'mptcp' ? b.onMptcp(view, NLMSG_HDRLEN, len) : b.onTcp(view, NLMSG_HDRLEN, len),
          ).not.toThrow();
          // A message that claims more than the buffer holds is ignored.
          expect(() =>
            kind === 'mptcp'
              ? b.onMptcp(view, NLMSG_HDRLEN, m.length)
              : b.onTcp(view, NLMSG_HDRLEN, m.length),
          ).not.toThrow();
        }
      }
    }
  });

  it('survives corrupted attribute lengths', () => {
    const b = new SnapshotBuilder();
    for (const m of msgs(fixture.mptcp)) b.onMptcp(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN);
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    for (const orig of msgs(fixture.tcp)) {
      for (let i = 0; i < 300; i++) {
        const m = Buffer.from(orig);
        const at = 88 + rnd(m.length - 90);
        m.writeUInt16LE(rnd(0x10000), at & ~1);
        expect(() => b.onTcp(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN)).not.toThrow();
      }
    }
  });

  it('zero-fills a short tcp_info and reads only fields inside the attribute', () => {
    const full = Buffer.alloc(280, 0xff);
    full.writeUInt32LE(1234, 68); // rtt
    full.writeUInt32LE(10, 80); // cwnd
    full.writeUInt32LE(0x7fffffff, 76); // ssthresh: infinite
    expect(decodeTcpInfo(full, 0, 280)).toMatchObject({
      rttUs: 1234,
      cwndPkts: 10,
      ssthreshPkts: null,
      pacingRateBytesPerSec: null,
    });
    const short = decodeTcpInfo(full, 0, 80); // ends before snd_cwnd
    expect(short).toMatchObject({
      rttUs: 1234,
      rttVarUs: 0xffffffff,
      cwndPkts: 0,
      bytesSent: 0,
      pacingRateBytesPerSec: 0,
    });
    expect(decodeTcpInfo(full.subarray(0, 100), 0, 280).cwndPkts).toBe(10); // len beyond the buffer is clamped
    expect(decodeTcpInfo(Buffer.alloc(0), 0, 280).rttUs).toBe(0);
  });

  it('zero-fills a short mptcp_info; without subflows_total it counts extra + 1', () => {
    const info = Buffer.alloc(96);
    info[0] = 2; // extra subflows
    info.writeUInt32LE(0x1, 8);
    info.writeUInt32LE(0xdeadbeef, 12);
    info[80] = 3;
    info.writeUInt32LE(500, 56);
    info.writeUInt32LE(1, 60); // bytes_sent = 2^32 + 500
    expect(decodeMptcpInfo(info, 0, 96)).toMatchObject({
      token: 0xdeadbeef,
      fallback: true,
      subflowsTotal: 3,
      bytesSent: 4294967796,
    });
    expect(decodeMptcpInfo(info, 0, 60)).toMatchObject({ token: 0xdeadbeef, subflowsTotal: 3, bytesSent: 0 });
    expect(decodeMptcpInfo(info, 0, 10)).toMatchObject({ token: 0, fallback: false });
  });
});

describe('formatAddress', () => {
  const v6 = (text: string): string => {
    // Expand a test literal by hand (no compression in the input) to keep the oracle independent.
    const groups = text.split(':');
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
    return formatAddress(b, 0, 10);
  };
  it('prints IPv6 the way glibc inet_ntop (and ss) does', () => {
    expect(v6('0:0:0:0:0:0:0:0')).toBe('::');
    expect(v6('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(v6('fe80:0:0:0:0:0:0:1')).toBe('fe80::1');
    expect(v6('1:0:0:0:0:0:0:0')).toBe('1::');
    expect(v6('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1'); // tie: the first run
    expect(v6('1:0:0:2:0:0:0:3')).toBe('1:0:0:2::3'); // the longest run
    expect(v6('1:0:2:3:4:5:6:7')).toBe('1:0:2:3:4:5:6:7'); // one zero group stays
    expect(v6('FD99:1:0:0:0:0:0:ABCD')).toBe('fd99:1::abcd');
    expect(v6('0:0:0:0:0:ffff:a63:102')).toBe('::ffff:10.99.1.2');
    expect(v6('0:0:0:0:0:0:102:304')).toBe('::1.2.3.4');
  });
  it('prints IPv4 from the first four bytes', () => {
    const b = Buffer.from([10, 99, 2, 1, 9, 9, 9, 9]);
    expect(formatAddress(b, 0, 2)).toBe('10.99.2.1');
    expect(formatAddress(b, 6, 2)).toBe(''); // short buffer: no read past the end
  });
});
