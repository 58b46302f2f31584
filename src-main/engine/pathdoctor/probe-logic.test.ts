import { describe, expect, it } from 'vitest';
import { parseIp } from '../../../shared/packet/addr';
import {
  parseTcpOptions,
  encodeTcpOptions,
  findOption,
  mpCapableV1Syn,
} from '../../../shared/packet/tcp-options';
import type { Hop } from '../../../shared/path-doctor';
import { classify, type Evidence, type Reply } from './classify';
import { classifyConnect } from './connect-scan';
import { CookieJar } from './cookie';
import { expandTargets, parsePorts, TargetError } from './targets';
import { traceVerdict } from './verdict';

const mpc = (bytes: number[]): Extract<Reply, { kind: 'synack' }>['mpc'] =>
  findOption(parseTcpOptions(Uint8Array.from(bytes)), 'mp-capable') ?? null;
const KEY = '0102030405060708';
const ev = (p: Partial<Evidence>): Evidence => ({
  v1: null,
  v0: null,
  plain: null,
  join: null,
  sent: { v1: 2, v0: 0, plain: 0, join: 0 },
  v0KeyHex: KEY,
  ...p,
});

describe('classify', () => {
  const v1SynAck = mpc([30, 12, 0x01, 0x01, 9, 9, 9, 9, 9, 9, 9, 9]);
  it('a 12-byte v1 MP_CAPABLE in the SYN/ACK is mptcp-v1, with the server flags', () => {
    const v = classify(
      ev({ v1: { kind: 'synack', mpc: mpc([30, 12, 0x01, 0xa1, 9, 9, 9, 9, 9, 9, 9, 9]) } }),
    );
    expect(v.class).toBe('mptcp-v1');
    expect(v.mptcp).toEqual({ version: 1, checksumRequired: true, denyJoinInitialAddress: true });
    expect(classify(ev({ v1: { kind: 'synack', mpc: v1SynAck } })).mptcp?.checksumRequired).toBe(false);
  });
  it('our 4-byte SYN option in a SYN/ACK, or our own v0 key, is a mirror', () => {
    expect(classify(ev({ v1: { kind: 'synack', mpc: mpc([30, 4, 0x01, 0x01]) } })).class).toBe('mirror');
    const echoed = mpc([30, 12, 0x00, 0x81, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(
      classify(
        ev({
          v1: { kind: 'synack', mpc: null },
          v0: { kind: 'synack', mpc: echoed },
          sent: { v1: 1, v0: 1, plain: 0, join: 0 },
        }),
      ).class,
    ).toBe('mirror');
  });
  it('a v0 server: v1 SYN answered without MPTCP, v0 SYN answered with its own key', () => {
    const theirs = mpc([30, 12, 0x00, 0x81, 8, 7, 6, 5, 4, 3, 2, 1]);
    const v = classify(
      ev({
        v1: { kind: 'synack', mpc: null },
        v0: { kind: 'synack', mpc: theirs },
        sent: { v1: 1, v0: 1, plain: 0, join: 0 },
      }),
    );
    expect(v.class).toBe('mptcp-v0');
    expect(v.mptcp?.denyJoinInitialAddress).toBe(false); // no such bit in RFC 6824
  });
  it('tcp, closed, filtered, syn-blackhole', () => {
    expect(classify(ev({ v1: { kind: 'synack', mpc: null }, v0: { kind: 'synack', mpc: null } })).class).toBe(
      'tcp',
    );
    expect(classify(ev({ v1: { kind: 'rst' } })).class).toBe('closed');
    expect(classify(ev({ v1: { kind: 'icmp', reason: 'port unreachable' } })).class).toBe('filtered');
    expect(
      classify(ev({ plain: { kind: 'synack', mpc: null }, sent: { v1: 2, v0: 0, plain: 1, join: 0 } })).class,
    ).toBe('syn-blackhole');
    expect(classify(ev({ plain: null, sent: { v1: 2, v0: 0, plain: 2, join: 0 } })).class).toBe('filtered');
  });
  it('reports the join probe: RST, SYN/ACK, or nothing', () => {
    expect(
      classify(
        ev({
          v1: { kind: 'synack', mpc: v1SynAck },
          join: { kind: 'rst' },
          sent: { v1: 1, v0: 0, plain: 0, join: 1 },
        }),
      ).join,
    ).toBe('rst');
    expect(
      classify(ev({ v1: { kind: 'synack', mpc: v1SynAck }, sent: { v1: 1, v0: 0, plain: 0, join: 2 } })).join,
    ).toBe('none');
    expect(classify(ev({ v1: { kind: 'synack', mpc: v1SynAck } })).join).toBeNull();
  });
});

describe('connect mode classes', () => {
  const line = { addr: '10.1.5.2', port: 80, errno: null, connectMs: 1 };
  it('fallback after data and SYN retransmissions have their own meaning', () => {
    expect(classifyConnect({ ...line, result: 'mptcp' }, undefined).class).toBe('mptcp-v1');
    expect(classifyConnect({ ...line, result: 'fallback' }, undefined)).toMatchObject({
      class: 'tcp',
      fallback: 'data',
    });
    expect(classifyConnect({ ...line, result: 'tcp', synRetrans: 2 }, undefined).class).toBe('syn-blackhole');
    expect(classifyConnect({ ...line, result: 'tcp', synRetrans: 0 }, undefined)).toMatchObject({
      class: 'tcp',
      fallback: 'handshake',
    });
    expect(classifyConnect({ ...line, result: 'refused' }, undefined).class).toBe('closed');
    expect(() =>
      classifyConnect({ ...line, result: 'error', note: 'MPTCP is disabled here' }, undefined),
    ).toThrow(/disabled/);
  });
});

describe('stateless cookies', () => {
  it('a reply matches only with the right secret, ports and sequence number', () => {
    const jar = new CookieJar(Buffer.alloc(32, 7));
    const t = parseIp('10.1.5.2') as Uint8Array;
    const c = jar.cookie(t, 443);
    expect(jar.match(t, 443, c.sportBase + 1, c.seq[1])?.kind).toBe('v0');
    expect(jar.match(t, 443, c.sportBase + 1, (c.seq[1] + 1) >>> 0)).toBeNull();
    expect(jar.match(t, 444, c.sportBase + 1, c.seq[1])).toBeNull();
    expect(jar.match(parseIp('10.1.5.3') as Uint8Array, 443, c.sportBase, c.seq[0])).toBeNull();
    expect(new CookieJar(Buffer.alloc(32, 8)).match(t, 443, c.sportBase, c.seq[0])).toBeNull();
    expect(c.sportBase).toBeGreaterThanOrEqual(32768);
    expect(c.sportBase + 3).toBeLessThanOrEqual(65535);
  });
});

describe('targets', () => {
  it('expands ranges without their network and broadcast addresses, dedups, resolves names', async () => {
    const ts = await expandTargets(['10.9.0.0/30', '10.9.0.1', 'server.lab'], {
      resolve: () => Promise.resolve(['10.9.0.7']),
    });
    expect(ts.map((t) => [t.text, t.host])).toEqual([
      ['10.9.0.1', null],
      ['10.9.0.2', null],
      ['10.9.0.7', 'server.lab'],
    ]);
    expect((await expandTargets(['10.9.0.4/31'])).map((t) => t.text)).toEqual(['10.9.0.4', '10.9.0.5']);
    expect((await expandTargets(['fd00::/126'])).map((t) => t.text)).toEqual([
      'fd00::',
      'fd00::1',
      'fd00::2',
      'fd00::3',
    ]);
  });
  it('refuses multicast, broadcast and oversized ranges, and names that resolve to them', async () => {
    await expect(expandTargets(['224.0.0.0/30'])).rejects.toThrow(TargetError);
    await expect(expandTargets(['ff02::1'])).rejects.toThrow(/multicast/);
    await expect(expandTargets(['10.0.0.0/8'])).rejects.toThrow(/at most/);
    await expect(
      expandTargets(['evil.example'], { resolve: () => Promise.resolve(['255.255.255.255']) }),
    ).rejects.toThrow(/broadcast/);
    await expect(expandTargets(['not a host!'])).rejects.toThrow(TargetError);
  });
  it('parses port lists', () => {
    expect(parsePorts('80,443,8000-8002')).toEqual([80, 443, 8000, 8001, 8002]);
    expect(() => parsePorts('0')).toThrow();
    expect(() => parsePorts('1-2000')).toThrow(/1024/);
  });
});

describe('trace verdict', () => {
  const hop = (ttl: number, mptcp: Hop['mptcp'], extra: Partial<Hop> = {}): Hop => ({
    ttl,
    address: `10.0.${ttl}.2`,
    rttMs: 0.1,
    quote: { kind: 'rfc1812', transportBytes: 44, optionsVisible: mptcp !== 'unknown' },
    mptcp,
    changes: [],
    newChanges: [],
    destination: false,
    ...extra,
  });
  it('names the boxes around the first hop that lost MP_CAPABLE', () => {
    const v = traceVerdict({
      hops: [hop(1, 'intact'), hop(2, 'intact'), hop(3, 'stripped')],
      destination: { class: 'tcp', ttl: 4, reason: '' },
    });
    expect(v).toBe('MP_CAPABLE is removed between hop 2 (10.0.2.2) and hop 3 (10.0.3.2)');
  });
  it('RFC 792 quotes only: never concludes "stripped"', () => {
    const v = traceVerdict({
      hops: [hop(1, 'unknown'), hop(2, 'unknown')],
      destination: { class: 'tcp', ttl: 3, reason: '' },
    });
    expect(v).toMatch(/too short to show where the option went/);
    expect(v).not.toMatch(/removed/);
  });
  it('an intact path to a server without MPTCP blames the server', () => {
    const v = traceVerdict({
      hops: [hop(1, 'intact'), hop(2, 'intact')],
      destination: { class: 'tcp', ttl: 3, reason: '' },
    });
    expect(v).toBe(
      'MP_CAPABLE reaches hop 2 (10.0.2.2) intact; the server answers without MPTCP: it does not support it',
    );
  });
});

describe('probe option bytes', () => {
  it('the v1 SYN option is 4 bytes: kind 30, length 4, subtype 0 version 1, flags H', () => {
    expect([...encodeTcpOptions([mpCapableV1Syn()])]).toEqual([30, 4, 0x01, 0x01]);
  });
});
