import { describe, expect, it } from 'vitest';
import { attrMap } from '../netlink/core';
import {
  buildAnnounceRequest,
  buildGetAddrByTokenRequest,
  buildRemoveRequest,
  buildSubflowCreateRequest,
  buildSubflowDestroyRequest,
  buildSubflowPriorityRequest,
} from './userspace';

const top = (b: Buffer): Map<number, Buffer> => attrMap(b, 4, b.length);
const nest = (b: Buffer | undefined): Map<number, Buffer> => {
  if (!b) throw new Error('missing nest');
  return attrMap(b, 0, b.length);
};

describe('userspace PM request builders', () => {
  it('SET_FLAGS on one subflow: the bytes, built by hand from uapi linux/mptcp_pm.h', () => {
    const b = buildSubflowPriorityRequest({
      token: 0x01020304,
      local: { address: '10.0.0.1', port: 20001 },
      remote: { address: '10.0.0.2', port: 5201 },
      backup: true,
    });
    // prettier-ignore
    const expected = [
      7, 1, 0, 0, // genlmsghdr: MPTCP_PM_CMD_SET_FLAGS, MPTCP_PM_VER
      8, 0, 4, 0, 4, 3, 2, 1, // MPTCP_PM_ATTR_TOKEN, u32
      36, 0, 1, 0x80, // MPTCP_PM_ATTR_ADDR | NLA_F_NESTED
      6, 0, 1, 0, 2, 0, 0, 0, // MPTCP_PM_ADDR_ATTR_FAMILY: AF_INET
      8, 0, 3, 0, 10, 0, 0, 1, // MPTCP_PM_ADDR_ATTR_ADDR4
      6, 0, 5, 0, 0x21, 0x4e, 0, 0, // MPTCP_PM_ADDR_ATTR_PORT 20001, host order
      8, 0, 6, 0, 4, 0, 0, 0, // MPTCP_PM_ADDR_ATTR_FLAGS: MPTCP_PM_ADDR_FLAG_BACKUP
      28, 0, 6, 0x80, // MPTCP_PM_ATTR_ADDR_REMOTE | NLA_F_NESTED
      6, 0, 1, 0, 2, 0, 0, 0,
      8, 0, 3, 0, 10, 0, 0, 2,
      6, 0, 5, 0, 0x51, 0x14, 0, 0, // port 5201
    ];
    expect([...b]).toEqual(expected);
    // Clearing the bit sends no FLAGS attribute: the kernel reads its absence as 0.
    const clear = top(
      buildSubflowPriorityRequest({
        token: 1,
        local: { address: 'fd99::1', port: 20001 },
        remote: { address: 'fd99::2', port: 5201 },
        backup: false,
      }),
    );
    expect(nest(clear.get(1)).has(6)).toBe(false);
    expect(nest(clear.get(6)).get(4)?.length).toBe(16);
    expect(() =>
      buildSubflowPriorityRequest({
        token: 1,
        local: { address: '10.0.0.1', port: 0 },
        remote: { address: '10.0.0.2', port: 5201 },
        backup: true,
      }),
    ).toThrow(/local.port/);
    expect(() =>
      buildSubflowPriorityRequest({
        token: 1,
        local: { address: '10.0.0.1', port: 1 },
        remote: { address: 'fd99::2', port: 5201 },
        backup: true,
      }),
    ).toThrow(/inet6/);
  });

  it('SUBFLOW_CREATE: token, local without id/port, remote with a host-order port', () => {
    const b = buildSubflowCreateRequest({
      token: 0xdeadbeef,
      local: { address: '10.99.1.1' },
      remote: { address: '10.99.1.2', port: 5201 },
    });
    expect([...b.subarray(0, 4)]).toEqual([10, 1, 0, 0]);
    const a = top(b);
    expect(a.get(4)?.readUInt32LE(0)).toBe(0xdeadbeef);
    const local = nest(a.get(1));
    expect(local.get(1)?.readUInt16LE(0)).toBe(2);
    expect([...(local.get(3) ?? [])]).toEqual([10, 99, 1, 1]);
    expect(local.has(2)).toBe(false);
    expect(local.has(5)).toBe(false);
    const remote = nest(a.get(6));
    expect(remote.get(5)?.readUInt16LE(0)).toBe(5201); // endpoint PORT is host order
    expect([...(remote.get(3) ?? [])]).toEqual([10, 99, 1, 2]);
  });

  it('SUBFLOW_CREATE with an id and IPv6, and its validation', () => {
    const a = top(
      buildSubflowCreateRequest({
        token: 1,
        local: { address: 'fd99::1', id: 2 },
        remote: { address: 'fd99::2', port: 80 },
        backup: true,
      }),
    );
    const local = nest(a.get(1));
    expect(local.get(2)?.readUInt8(0)).toBe(2);
    expect(local.get(4)?.length).toBe(16);
    expect(local.get(6)?.readUInt32LE(0)).toBe(4);
    expect(() =>
      buildSubflowCreateRequest({
        token: 1,
        local: { address: '10.0.0.1' },
        remote: { address: 'fd99::2', port: 80 },
      }),
    ).toThrow(/inet6/);
    expect(() =>
      buildSubflowCreateRequest({
        token: 0,
        local: { address: '10.0.0.1' },
        remote: { address: '10.0.0.2', port: 80 },
      }),
    ).toThrow(/token/);
    expect(() =>
      buildSubflowCreateRequest({
        token: 1,
        local: { address: '10.0.0.1' },
        remote: { address: '10.0.0.2', port: 0 },
      }),
    ).toThrow(/port/);
  });

  it('SUBFLOW_DESTROY needs both ports', () => {
    const a = top(
      buildSubflowDestroyRequest({
        token: 5,
        local: { address: '10.0.0.1', port: 40000 },
        remote: { address: '10.0.0.2', port: 5201 },
      }),
    );
    expect(nest(a.get(1)).get(5)?.readUInt16LE(0)).toBe(40000);
    expect(() =>
      buildSubflowDestroyRequest({
        token: 5,
        local: { address: '10.0.0.1', port: 0 },
        remote: { address: '10.0.0.2', port: 1 },
      }),
    ).toThrow(/local.port/);
  });

  it('ANNOUNCE carries the signal flag and refuses id 0; REMOVE and GET_ADDR by token', () => {
    const b = buildAnnounceRequest({ token: 9, local: { address: '10.99.2.2', id: 3 } });
    expect(b[0]).toBe(8);
    const local = nest(top(b).get(1));
    expect(local.get(6)?.readUInt32LE(0)).toBe(1);
    expect(local.get(2)?.readUInt8(0)).toBe(3);
    expect(() => buildAnnounceRequest({ token: 9, local: { address: '10.99.2.2', id: 0 } })).toThrow(/id/);
    const r = buildRemoveRequest({ token: 9, localId: 3 });
    expect(r[0]).toBe(9);
    expect(top(r).get(5)?.readUInt8(0)).toBe(3);
    const g = buildGetAddrByTokenRequest(9);
    expect(g[0]).toBe(3);
    expect(top(g).get(4)?.readUInt32LE(0)).toBe(9);
  });
});
