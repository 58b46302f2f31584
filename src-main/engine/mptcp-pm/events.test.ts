import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nla, nlaU16, nlaU32, nlaU8 } from '../netlink/core';
import { decodeMptcpEvent, formatMptcpEvent, type PmEvent } from './events';

interface Fixture {
  client: string[];
  server: string[];
}
const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, 'fixtures', 'mptcp-events.json'), 'utf8'),
) as Fixture;

const decode = (hex: string): PmEvent => {
  const b = Buffer.from(hex, 'hex');
  const ev = decodeMptcpEvent(b, 0, b.length);
  if (!ev) throw new Error('not decoded');
  return ev;
};

describe('decodeMptcpEvent on recorded 6.18 events', () => {
  const client = fixture.client.map(decode);
  const server = fixture.server.map(decode);

  it('decodes the client sequence recorded on 6.18 (docs/kernel-interfaces.md, "Events")', () => {
    expect(client.map((e) => e.kind).slice(0, 7)).toEqual([
      'created',
      'established',
      'announced',
      'sub_established',
      'removed',
      'sub_closed',
      'closed',
    ]);
  });

  it('decodes addresses, big-endian ports, ids and the token', () => {
    const est = client[1];
    expect(est).toMatchObject({
      type: 2,
      family: 'inet',
      localAddress: '10.99.1.1',
      remoteAddress: '10.99.1.2',
      remotePort: 5201,
      localId: 0,
      remoteId: 0,
      serverSide: false,
    });
    expect(est?.localPort).toBeGreaterThan(1023);
    expect(est?.token).toBe(client[0]?.token);
    // Every event of one connection carries the same token.
    expect(new Set(client.slice(0, 7).map((e) => e.token)).size).toBe(1);
  });

  it('ANNOUNCED carries the remote id and the connection port when the ADD_ADDR had none', () => {
    expect(client[2]).toMatchObject({ remoteId: 1, remoteAddress: '10.99.2.2', remotePort: 5201 });
    expect(client[9]).toMatchObject({ remoteId: 1, remoteAddress: '10.99.2.2', remotePort: 5999 });
  });

  it('subflow events carry both ends and backup', () => {
    expect(client[3]).toMatchObject({
      kind: 'sub_established',
      localAddress: '10.99.2.1',
      remoteAddress: '10.99.2.2',
      remotePort: 5201,
      localId: 1,
      remoteId: 1,
      backup: false,
    });
    expect(client[5]?.kind).toBe('sub_closed');
  });

  it('marks the server side (FLAGS bit1 / SERVER_SIDE) and decodes listeners', () => {
    expect(server[0]).toMatchObject({ kind: 'listener_created', localAddress: '0.0.0.0', localPort: 5201 });
    expect(server[1]).toMatchObject({ kind: 'created', serverSide: true, localPort: 5201 });
    expect(server[6]).toMatchObject({ kind: 'listener_created', localAddress: '10.99.2.2', localPort: 5999 });
  });

  it('leaves no known attribute undecoded', () => {
    for (const e of [...client, ...server]) {
      expect(e.unknownAttrs).toEqual({});
      expect(e.rawAttrs).toBeNull();
    }
  });
});

describe('decodeMptcpEvent on built messages', () => {
  const body = (cmd: number, attrs: Buffer[]): Buffer =>
    Buffer.concat([Buffer.from([cmd, 1, 0, 0]), ...attrs]);
  const be16 = (t: number, v: number): Buffer => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return nla(t, b);
  };

  it('keeps an unknown event type with every attribute as hex', () => {
    const b = body(42, [nlaU32(1, 0x01020304), nla(99, Buffer.from([0xab, 0xcd]))]);
    const ev = decodeMptcpEvent(b, 0, b.length);
    expect(ev).toMatchObject({ type: 42, kind: 'unknown', token: 0x01020304 });
    expect(ev?.rawAttrs).toEqual({ '1': '04030201', '99': 'abcd' });
    expect(ev?.unknownAttrs).toEqual({ '99': 'abcd' });
    expect(formatMptcpEvent(ev as PmEvent)).toContain('event 42');
  });

  it('decodes IPv6, error, reset reason, ifindex and the listener-closed event', () => {
    const v6 = Buffer.alloc(16);
    v6.writeUInt16BE(0xfd99, 0);
    v6[15] = 1;
    const b = body(11, [
      nlaU32(1, 7),
      nlaU16(2, 10),
      nla(6, v6),
      be16(9, 40001),
      nlaU8(12, 111),
      nlaU32(15, 3),
      nlaU32(16, 5),
      nlaU32(17, 1),
      nlaU16(13, 3),
    ]);
    expect(decodeMptcpEvent(b, 0, b.length)).toMatchObject({
      kind: 'sub_closed',
      family: 'inet6',
      localAddress: 'fd99::1',
      localPort: 40001,
      error: 111,
      ifindex: 3,
      resetReason: 5,
      resetReasonName: 'badperf',
      resetFlags: 1,
      denyJoinId0: true,
      serverSide: true,
    });
    const l = body(16, [nlaU16(2, 2), be16(9, 5201), nla(5, Buffer.from([0, 0, 0, 0]))]);
    expect(decodeMptcpEvent(l, 0, l.length)).toMatchObject({ kind: 'listener_closed', localPort: 5201 });
  });

  it('never reads past the message and rejects a body without a genl header', () => {
    expect(decodeMptcpEvent(Buffer.from([1, 1]), 0, 2)).toBeNull();
    const truncated = Buffer.concat([body(2, []), Buffer.from([8, 0, 1, 0, 1])]);
    expect(decodeMptcpEvent(truncated, 0, truncated.length)?.token).toBeNull();
  });
});
