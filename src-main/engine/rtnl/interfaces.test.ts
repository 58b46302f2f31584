import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NetInterfaceSchema } from '../../../shared/types';
import { nla, nlaU32, type MessageVisitor, type NlSocket } from '../netlink/core';
import {
  buildRtmGetAddrRequest,
  buildRtmGetLinkRequest,
  decodeAddress,
  decodeLink,
  isUsable,
  listInterfaces,
} from './interfaces';
import { RTM_GETADDR, RTM_GETLINK } from '../uapi/rtnetlink';

/**
 * Fixture: RTM_NEWLINK / RTM_NEWADDR bodies recorded from Linux 6.18 in a lab client namespace by
 * src-main/lab/probes/record-pm-fixtures.ts, with `ip -d link show` / `ip addr show` as the oracle.
 */
interface Recorded {
  type: number;
  body: string;
}
const fx = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'interfaces.json'), 'utf8')) as {
  oracle: { links: string; addresses: string };
  links: Recorded[];
  addresses: Recorded[];
};
const body = (r: Recorded): Buffer => Buffer.from(r.body, 'hex');

function replaySocket(): NlSocket & { sent: { type: number; payload: Buffer }[] } {
  const sent: { type: number; payload: Buffer }[] = [];
  const byType: Record<number, Recorded[]> = { [RTM_GETLINK]: fx.links, [RTM_GETADDR]: fx.addresses };
  return {
    sent,
    dump(type: number, payload: Buffer, _what: string, visit: MessageVisitor | null): Promise<Buffer[]> {
      sent.push({ type, payload });
      // Reversed, and with a DONE-like stray message, to prove ordering and type filtering.
      for (const r of [...(byType[type] ?? [])].reverse()) {
        const b = body(r);
        visit?.(b, r.type, 0, b.length);
      }
      visit?.(Buffer.alloc(4), 3, 0, 4);
      return Promise.resolve([]);
    },
  } as unknown as NlSocket & { sent: { type: number; payload: Buffer }[] };
}

describe('rtnetlink decoding (recorded dumps)', () => {
  it('the oracle shows what the expectations below say', () => {
    expect(fx.oracle.links).toMatch(/1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 .* state UNKNOWN/);
    expect(fx.oracle.links).toMatch(/2: c0@if\d+: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 .* state UP/);
    expect(fx.oracle.links).toMatch(/3: c1@if\d+: <BROADCAST,MULTICAST> mtu 1500 .* state DOWN/);
    expect(fx.oracle.addresses).toContain('inet 10.99.9.1 peer 10.99.9.2/32 scope global c0');
    expect(fx.oracle.addresses).toContain('inet6 fe80::c405:d3ff:fe82:c7cc/64 scope link tentative');
  });

  it('decodes links: index, name, flags, operstate, MTU and its bounds', () => {
    const links = fx.links.map((r) => {
      const b = body(r);
      return decodeLink(b, 0, b.length);
    });
    expect(links).toEqual([
      // IFF_UP|LOOPBACK|RUNNING|LOWER_UP
      {
        index: 1,
        name: 'lo',
        flags: 0x10049,
        operState: 'unknown',
        operStateRaw: 0,
        mtuBytes: 65536,
        minMtuBytes: 0,
        maxMtuBytes: 0,
      },
      // IFF_UP|BROADCAST|RUNNING|MULTICAST|LOWER_UP
      {
        index: 2,
        name: 'c0',
        flags: 0x11043,
        operState: 'up',
        operStateRaw: 6,
        mtuBytes: 1500,
        minMtuBytes: 68,
        maxMtuBytes: 65535,
      },
      // BROADCAST|MULTICAST: set down
      {
        index: 3,
        name: 'c1',
        flags: 0x1002,
        operState: 'down',
        operStateRaw: 2,
        mtuBytes: 1500,
        minMtuBytes: 68,
        maxMtuBytes: 65535,
      },
    ]);
  });

  it('decodes addresses: IFA_LOCAL over IFA_ADDRESS for IPv4, prefix, scope, IFA_FLAGS', () => {
    const addrs = fx.addresses.map((r) => {
      const b = body(r);
      return decodeAddress(b, 0, b.length);
    });
    expect(addrs).toEqual([
      { index: 1, family: 'inet', address: '127.0.0.1', prefixLen: 8, scope: 254, flags: 0x80 },
      { index: 2, family: 'inet', address: '10.99.1.1', prefixLen: 24, scope: 0, flags: 0x80 },
      // Point-to-point: IFA_ADDRESS is the peer 10.99.9.2, IFA_LOCAL ours.
      { index: 2, family: 'inet', address: '10.99.9.1', prefixLen: 32, scope: 0, flags: 0x80 },
      { index: 3, family: 'inet', address: '10.99.2.1', prefixLen: 24, scope: 0, flags: 0x80 },
      { index: 1, family: 'inet6', address: '::1', prefixLen: 128, scope: 254, flags: 0x80 },
      // IFA_F_PERMANENT|IFA_F_NODAD
      { index: 2, family: 'inet6', address: 'fd99:1::1', prefixLen: 64, scope: 0, flags: 0x82 },
      // IFA_F_PERMANENT|IFA_F_TENTATIVE
      {
        index: 2,
        family: 'inet6',
        address: 'fe80::c405:d3ff:fe82:c7cc',
        prefixLen: 64,
        scope: 253,
        flags: 0xc0,
      },
    ]);
  });

  it('reads IFA_FLAGS (u32) over the u8 in ifaddrmsg, and skips other families', () => {
    const msg = Buffer.concat([
      Buffer.from([10, 64, 0x02, 0, 7, 0, 0, 0]),
      nla(1, Buffer.from('20010db8000000000000000000000001', 'hex')),
      nlaU32(8, 0x200 | 0x80),
    ]);
    expect(decodeAddress(msg, 0, msg.length)).toEqual({
      index: 7,
      family: 'inet6',
      address: '2001:db8::1',
      prefixLen: 64,
      scope: 0,
      flags: 0x280,
    });
    const packet = Buffer.concat([Buffer.from([17, 0, 0, 0, 7, 0, 0, 0]), nla(1, Buffer.alloc(6))]);
    expect(decodeAddress(packet, 0, packet.length)).toBeNull();
  });

  it('usable = operstate UP, or UNKNOWN with IFF_RUNNING', () => {
    expect(isUsable({ operState: 'up', flags: 0 })).toBe(true);
    expect(isUsable({ operState: 'unknown', flags: 0x40 })).toBe(true);
    expect(isUsable({ operState: 'unknown', flags: 0x1 })).toBe(false);
    expect(isUsable({ operState: 'down', flags: 0x41 })).toBe(false);
    expect(isUsable({ operState: 'lowerlayerdown', flags: 0x1 })).toBe(false);
    expect(isUsable({ operState: 'dormant', flags: 0x41 })).toBe(false);
  });

  it('lists interfaces by index with their addresses', async () => {
    const sock = replaySocket();
    const ifs = await listInterfaces(sock);
    for (const i of ifs) NetInterfaceSchema.parse(i);
    expect(sock.sent).toEqual([
      { type: RTM_GETLINK, payload: buildRtmGetLinkRequest() },
      { type: RTM_GETADDR, payload: buildRtmGetAddrRequest() },
    ]);
    expect(
      ifs.map((i) => [i.index, i.name, i.operState, i.adminUp, i.running, i.usable, i.loopback]),
    ).toEqual([
      [1, 'lo', 'unknown', true, true, true, true],
      [2, 'c0', 'up', true, true, true, false],
      [3, 'c1', 'down', false, false, false, false],
    ]);
    const c0 = ifs[1];
    expect(c0?.addresses.map((a) => `${a.address}/${a.prefixLen}`).sort()).toEqual(
      ['10.99.1.1/24', '10.99.9.1/32', 'fd99:1::1/64', 'fe80::c405:d3ff:fe82:c7cc/64'].sort(),
    );
    expect(ifs[2]?.addresses).toEqual([{ family: 'inet', address: '10.99.2.1', prefixLen: 24, scope: 0 }]);
  });

  it('asks for AF_UNSPEC dumps, links without stats (IFLA_EXT_MASK = RTEXT_FILTER_SKIP_STATS)', () => {
    expect(buildRtmGetLinkRequest().toString('hex')).toBe(`${'00'.repeat(16)}08001d0008000000`);
    expect(buildRtmGetAddrRequest().toString('hex')).toBe('00'.repeat(8));
  });
});
