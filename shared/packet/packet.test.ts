import { describe, expect, it } from 'vitest';
import recorded from './fixtures/recorded.json';
import { forbiddenTargetReason, formatIpv6, parseIp, parseIpv6 } from './addr';
import { compareQuote, type ProbeImage } from './compare';
import { parseIcmp } from './icmp';
import { buildTcpPacket, TCP_SYN, tcpChecksum } from './packet';
import { parsePacket, type ParsedPacket } from './parse';
import {
  encodeTcpOptions,
  findOption,
  fromHex,
  linuxSynOptions,
  mpCapableV0Syn,
  mpCapableV1Syn,
  parseTcpOptions,
  toHex,
} from './tcp-options';

type Name = keyof typeof recorded;
const bytes = (n: Name): Uint8Array => fromHex(recorded[n].hex);
const parsed = (n: Name): ParsedPacket => {
  const p = parsePacket(bytes(n));
  if (!p) throw new Error(`${n} did not parse`);
  return p;
};
const tcpOf = (n: Name) => {
  const p = parsed(n);
  if (p.kind !== 'tcp') throw new Error(`${n} is not TCP`);
  return p;
};
const icmpOf = (n: Name) => {
  const p = parsed(n);
  if (p.kind !== 'icmp') throw new Error(`${n} is not ICMP`);
  return p;
};

/** The probe the recorder sent with TTL `ttl` (record-path-doctor-fixtures.ts), rebuilt. */
function recorderProbe(ttl: number, src = '10.0.1.1', dst = '10.0.5.2', dstPort = 8001): Uint8Array {
  return buildTcpPacket({
    src: parseIp(src) as Uint8Array,
    dst: parseIp(dst) as Uint8Array,
    srcPort: 40000 + ttl,
    dstPort,
    seq: 0x11223344 + ttl,
    flags: TCP_SYN,
    window: 64240,
    ttl,
    id: 0x4000 + ttl,
    options: encodeTcpOptions(
      linuxSynOptions({ mss: 1460, tsVal: 12345, wscale: 7, mptcp: mpCapableV1Syn() }),
    ),
  });
}

function image(packet: Uint8Array): ProbeImage {
  const p = parsePacket(packet);
  if (p?.kind !== 'tcp') throw new Error('probe is not TCP');
  return { ip: p.ip, tcp: p.tcp };
}

describe('recorded Linux MPTCP handshake', () => {
  it('decodes the SYN: Linux option layout ending in a 4-byte v1 MP_CAPABLE', () => {
    const { ip, tcp } = tcpOf('linux-mptcp-syn');
    expect(ip.version).toBe(4);
    expect(tcp.flags).toBe(TCP_SYN);
    expect(tcp.options.map((o) => o.kind)).toEqual([
      'mss',
      'sack-permitted',
      'timestamp',
      'nop',
      'wscale',
      'mp-capable',
    ]);
    const mpc = findOption(tcp.options, 'mp-capable');
    expect(mpc).toMatchObject({ version: 1, flags: 0x01, senderKey: null });
    expect(mpc?.raw.length).toBe(4);
  });

  it('builds the same option bytes as the Linux client for the same values', () => {
    const { tcp } = tcpOf('linux-mptcp-syn');
    const ts = findOption(tcp.options, 'timestamp');
    const ws = findOption(tcp.options, 'wscale');
    const mine = encodeTcpOptions(
      linuxSynOptions({ mss: 1460, tsVal: ts?.tsVal ?? 0, wscale: ws?.shift ?? 0, mptcp: mpCapableV1Syn() }),
    );
    expect(toHex(mine)).toBe(toHex(tcp.optionArea));
  });

  it('decodes the SYN/ACK (12-byte MP_CAPABLE v1 with the server key) and the MSS r1 clamped', () => {
    const { ip, tcp } = tcpOf('linux-mptcp-synack');
    expect(tcp.flags).toBe(0x12);
    expect(ip.tos >>> 2).toBe(10); // r3 rewrites DSCP in both directions
    expect(findOption(tcp.options, 'mss')?.mss).toBe(1200);
    const mpc = findOption(tcp.options, 'mp-capable');
    expect(mpc?.raw.length).toBe(12);
    expect(mpc?.version).toBe(1);
    expect(mpc?.senderKey).toMatch(/^[0-9a-f]{16}$/);
  });

  it('decodes the third ACK with both keys (20 bytes)', () => {
    const mpc = findOption(tcpOf('linux-mptcp-ack').tcp.options, 'mp-capable');
    expect(mpc?.raw.length).toBe(20);
    expect(mpc?.senderKey).not.toBeNull();
    expect(mpc?.receiverKey).not.toBeNull();
  });

  it('decodes an MP_JOIN SYN: token and nonce, address id', () => {
    const join = findOption(tcpOf('linux-mp-join-syn').tcp.options, 'mp-join');
    expect(join?.raw.length).toBe(12);
    expect(join?.token).not.toBeNull();
    expect(join?.nonce).not.toBeNull();
    expect(join?.addressId).toBeGreaterThan(0);
  });

  it('verifies a recorded checksum with its own checksum code', () => {
    // Kernel-built segments captured on the sender's veth carry a partial (offloaded) checksum;
    // the RST crossed four routers and arrived complete.
    const b = bytes('tcp-rst-closed');
    const { ip, tcp } = tcpOf('tcp-rst-closed');
    expect(tcpChecksum(ip.srcBytes, ip.dstBytes, b.subarray(ip.headerBytes))).toBe(tcp.checksum);
    const sent = recorderProbe(3);
    expect(tcpChecksum(sent.subarray(12, 16), sent.subarray(16, 20), sent.subarray(20))).toBe(
      (sent[36]! << 8) | sent[37]!,
    );
  });

  it('decodes an RST/ACK of a closed port', () => {
    const { tcp } = tcpOf('tcp-rst-closed');
    expect(tcp.flags & 0x04).toBe(0x04);
    expect(tcp.ack).toBe(0x11223344 + 8 + 1);
  });
});

describe('recorded ICMP quotes (RFC 1812 routers, Linux 6.18)', () => {
  it('hop 1: a full quote, nothing changed, MP_CAPABLE intact', () => {
    const { icmp, ip } = icmpOf('icmp-te-hop1-intact');
    expect(ip.src).toBe('10.0.1.2');
    expect(icmp.kind).toBe('time-exceeded');
    expect(icmp.quote?.kind).toBe('rfc1812');
    expect(icmp.quote?.optionsVisible).toBe(true);
    const q = icmp.quote;
    if (!q) throw new Error('quote');
    const cmp = compareQuote(image(recorderProbe(1)), q.ip, q.tcp);
    expect(cmp.changes).toEqual([]);
    expect(cmp.mptcp).toBe('intact');
  });

  it('hop 3: MSS rewritten by r1, MP_CAPABLE replaced by NOPs by r2', () => {
    const q = icmpOf('icmp-te-hop3-stripped').icmp.quote;
    if (!q) throw new Error('quote');
    const cmp = compareQuote(image(recorderProbe(3)), q.ip, q.tcp);
    expect(cmp.mptcp).toBe('stripped');
    expect(cmp.changes.map((c) => c.kind).sort()).toEqual(['mss', 'option-nopped']);
    expect(cmp.changes.find((c) => c.kind === 'mss')).toMatchObject({ from: '1460', to: '1200' });
  });

  it('hop 4: DSCP rewritten by r3 as well', () => {
    const q = icmpOf('icmp-te-hop4-dscp').icmp.quote;
    if (!q) throw new Error('quote');
    const cmp = compareQuote(image(recorderProbe(4)), q.ip, q.tcp);
    expect(cmp.changes.find((c) => c.kind === 'dscp')).toMatchObject({ from: '0', to: '10' });
  });

  it('an RFC 792 quote (8 bytes of TCP) leaves the options unknown, never stripped', () => {
    const full = bytes('icmp-te-hop3-stripped');
    // The same router reply cut to IP header + 8 bytes of its quote, as an RFC 792 router sends.
    const cut = full.slice(0, 20 + 8 + 20 + 8);
    cut[2] = 0;
    cut[3] = cut.length;
    const p = parsePacket(cut);
    if (p?.kind !== 'icmp' || !p.icmp.quote) throw new Error('quote');
    expect(p.icmp.quote.kind).toBe('rfc792');
    expect(p.icmp.quote.transportBytes).toBe(8);
    expect(p.icmp.quote.optionsVisible).toBe(false);
    expect(p.icmp.quote.tcp?.seq).toBe(0x11223344 + 3);
    const cmp = compareQuote(image(recorderProbe(3)), p.icmp.quote.ip, p.icmp.quote.tcp);
    expect(cmp.mptcp).toBe('unknown');
    expect(cmp.changes).toEqual([]);
  });

  it('a quote cut inside the option area is partial: options unknown', () => {
    const full = bytes('icmp-te-hop1-intact');
    const p = parseIcmp(4, full, 20, 20 + 8 + 20 + 30);
    expect(p?.quote?.kind).toBe('rfc1812');
    expect(p?.quote?.optionsVisible).toBe(false);
    expect(p?.quote?.tcp?.window).toBe(64240);
  });

  it('RFC 4884: the length attribute bounds the quote; extensions after it are not the packet', () => {
    const full = bytes('icmp-te-hop1-intact');
    const quote = full.slice(28); // 64 bytes: the whole probe
    // Pad the original datagram to 128 bytes (RFC 4884 §5.5), then an extension header.
    const icmp = new Uint8Array(8 + 128 + 8);
    icmp.set(full.slice(20, 28));
    icmp[5] = 128 / 4;
    icmp.set(quote, 8);
    icmp.set([0x20, 0, 0, 0, 0, 8, 2, 1], 8 + 128);
    const m = parseIcmp(4, icmp, 0, icmp.length);
    expect(m?.rfc4884LengthBytes).toBe(128);
    expect(m?.quote?.kind).toBe('rfc4884');
    expect(m?.quote?.transportBytes).toBe(44);
    const cmp = compareQuote(image(recorderProbe(1)), m?.quote?.ip as never, m?.quote?.tcp ?? null);
    expect(cmp.mptcp).toBe('intact');
  });

  it('ICMPv6 time exceeded quotes the whole IPv6 probe', () => {
    const { icmp, ip } = icmpOf('icmpv6-te-hop2');
    expect(ip.version).toBe(6);
    expect(ip.src).toBe('fd00:1:2::2');
    expect(icmp.kind).toBe('time-exceeded');
    expect(icmp.quote?.kind).toBe('icmpv6');
    expect(icmp.quote?.ip.dst).toBe('fd00:1:5::2');
    const cmp = compareQuote(
      image(recorderProbe(2, 'fd00:1:1::1', 'fd00:1:5::2')),
      icmp.quote?.ip as never,
      icmp.quote?.tcp ?? null,
    );
    // Path 1 has no stripping box: r1 clamped the MSS, nothing else.
    expect(cmp.mptcp).toBe('intact');
    expect(cmp.changes.map((c) => c.kind)).toEqual(['mss']);
  });

  it('port unreachable: the destination quotes the probe (after r3 rewrote DSCP)', () => {
    const { icmp } = icmpOf('icmp-port-unreachable');
    expect(icmp.kind).toBe('unreachable');
    expect(icmp.reason).toBe('port unreachable');
    expect(icmp.quote?.tcp?.dstPort).toBe(8008);
    expect(icmp.quote?.ip.tos).toBe(0x28);
  });
});

describe('options and addresses', () => {
  it('v0 MP_CAPABLE SYN carries the key (RFC 6824: 12 bytes)', () => {
    const key = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    const o = parseTcpOptions(encodeTcpOptions([mpCapableV0Syn(key)]));
    expect(o[0]).toMatchObject({
      kind: 'mp-capable',
      version: 0,
      flags: 0x81,
      senderKey: '0102030405060708',
    });
  });

  it('malformed lengths become one malformed option and stop the walk', () => {
    expect(parseTcpOptions(Uint8Array.of(2, 9, 1, 1)).map((o) => o.kind)).toEqual(['malformed']);
    expect(parseTcpOptions(Uint8Array.of(1, 30, 1)).map((o) => o.kind)).toEqual(['nop', 'malformed']);
    expect(parseTcpOptions(Uint8Array.of(1, 0, 5, 5)).map((o) => o.kind)).toEqual(['nop', 'eol']);
  });

  it('refuses more than 40 bytes of options', () => {
    expect(() => encodeTcpOptions([{ kind: 'raw', bytes: new Uint8Array(41) }])).toThrow();
  });

  it('formats and parses IPv6 per RFC 5952', () => {
    expect(formatIpv6(parseIpv6('fd00:0:1:0:0:0:0:1') as Uint8Array)).toBe('fd00:0:1::1');
    expect(formatIpv6(parseIpv6('::ffff:10.0.0.1') as Uint8Array)).toBe('::ffff:10.0.0.1');
    expect(formatIpv6(parseIpv6('::1.2.3.4') as Uint8Array)).toBe('::1.2.3.4');
    expect(formatIpv6(parseIpv6('::2') as Uint8Array)).toBe('::0.0.0.2');
    expect(formatIpv6(parseIpv6('::1') as Uint8Array)).toBe('::1');
    expect(formatIpv6(parseIpv6('::') as Uint8Array)).toBe('::');
    expect(parseIpv6('1::2::3')).toBeNull();
    expect(parseIpv6('1:2:3:4:5:6:7:8:9')).toBeNull();
  });

  it('names the targets a probe must never be sent to', () => {
    for (const a of ['255.255.255.255', '224.0.0.1', '239.1.2.3', '0.0.0.0', '240.0.0.1', 'ff02::1', '::'])
      expect(forbiddenTargetReason(parseIp(a) as Uint8Array), a).not.toBeNull();
    for (const a of ['10.0.0.1', '192.0.2.1', 'fd00::1'])
      expect(forbiddenTargetReason(parseIp(a) as Uint8Array)).toBeNull();
  });
});
