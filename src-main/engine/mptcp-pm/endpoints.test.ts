import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApiFailure } from '../../../shared/result';
import { EndpointSchema, type Endpoint } from '../../../shared/types';
import {
  NetlinkError,
  nla,
  nlaNested,
  nlaU16,
  nlaU32,
  nlaU8,
  type MessageVisitor,
  type NlSocket,
} from '../netlink/core';
import { GENL_ID_CTRL } from '../uapi/genetlink';
import {
  buildAddEndpointRequest,
  buildDelEndpointRequest,
  buildFlushEndpointsRequest,
  buildGetLimitsRequest,
  buildSetFlagsRequest,
  buildSetLimitsRequest,
  decodeEndpointMessage,
  decodeLimits,
  getLimits,
  listEndpoints,
  type EndpointWrite,
} from './endpoints';
import { buildGetFamilyRequest, decodeGenlFamily, resolveMptcpPm } from './family';

/**
 * Fixture: reply bodies recorded from Linux 6.18 in a lab client namespace by src-main/lab/probes/record-pm-fixtures.ts;
 * the `ip mptcp` output recorded with them is the oracle for the expected values below.
 */
interface Recorded {
  type: number;
  body: string;
}
const fx = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'mptcp-pm.json'), 'utf8')) as {
  oracle: { endpoints: string; limits: string };
  family: Recorded[];
  endpoints: Recorded[];
  limits: Recorded[];
};
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const body = (r: Recorded | undefined): Buffer => Buffer.from(r?.body ?? '', 'hex');
/** The family id this kernel assigned when the fixture was recorded: the type of its replies. */
const recordedFamilyId = fx.limits[0]?.type ?? -1;

const noFlags = {
  signal: false,
  subflow: false,
  backup: false,
  fullmesh: false,
  implicit: false,
  laminar: false,
};

/** `ip mptcp endpoint show` at record time, as values (c0 had ifindex 2). */
const expected: Endpoint[] = [
  {
    id: 1,
    family: 'inet',
    address: '10.99.2.1',
    port: null,
    ifindex: null,
    ifname: null,
    flags: { ...noFlags, implicit: true },
    rawFlags: 0x10,
  },
  {
    id: 5,
    family: 'inet',
    address: '10.99.1.1',
    port: 10000,
    ifindex: 2,
    ifname: 'c0',
    flags: { ...noFlags, signal: true },
    rawFlags: 0x01,
  },
  {
    id: 7,
    family: 'inet6',
    address: 'fd99:1::1',
    port: null,
    ifindex: null,
    ifname: null,
    flags: { ...noFlags, subflow: true, backup: true, fullmesh: true },
    rawFlags: 0x0e,
  },
  {
    id: 200,
    family: 'inet',
    address: '10.99.3.1',
    port: null,
    ifindex: null,
    ifname: null,
    flags: { ...noFlags, signal: true },
    rawFlags: 0x01,
  },
];

/** Replays recorded messages through the NlSocket surface the readers use. */
function replaySocket(
  dumps: Recorded[],
  requests: Recorded[] = [],
): NlSocket & { sent: { type: number; payload: Buffer }[] } {
  const sent: { type: number; payload: Buffer }[] = [];
  const fake = {
    sent,
    dump(type: number, payload: Buffer, _what: string, visit: MessageVisitor | null): Promise<Buffer[]> {
      sent.push({ type, payload });
      for (const r of dumps) {
        const b = body(r);
        visit?.(b, r.type, 0, b.length);
      }
      return Promise.resolve([]);
    },
    request(type: number, payload: Buffer): Promise<Buffer[]> {
      sent.push({ type, payload });
      return Promise.resolve(requests.map(body));
    },
  };
  return fake as unknown as NlSocket & { sent: { type: number; payload: Buffer }[] };
}

describe('mptcp_pm family resolution', () => {
  it('decodes the recorded controller reply: id, version and multicast groups by name', () => {
    const fam = decodeGenlFamily(body(fx.family[0]));
    expect(fam.name).toBe('mptcp_pm');
    expect(fam.familyId).toBe(recordedFamilyId);
    expect(fam.version).toBe(1);
    expect([...fam.groups.keys()].sort()).toEqual(['mptcp_pm_cmds', 'mptcp_pm_events']);
    expect(fam.groups.get('mptcp_pm_events')).toBeGreaterThan(0);
    expect(fam.groups.get('mptcp_pm_events')).not.toBe(fam.groups.get('mptcp_pm_cmds'));
  });

  it('asks the controller (0x10) for the family by name, as iproute2 does', async () => {
    expect(buildGetFamilyRequest('mptcp_pm')).toEqual(hex('03010000 0d000200 6d707463705f706d 00000000'));
    const sock = replaySocket([], fx.family);
    const fam = await resolveMptcpPm(sock);
    expect(sock.sent[0]?.type).toBe(GENL_ID_CTRL);
    expect(fam.familyId).toBe(recordedFamilyId);
  });

  it('reports a kernel without the family as UNSUPPORTED with a sentence', async () => {
    const sock = {
      request: () => Promise.reject(new NetlinkError(2, 'resolve genl family mptcp_pm')),
    } as unknown as NlSocket;
    const err = await resolveMptcpPm(sock).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiFailure);
    expect((err as ApiFailure).code).toBe('UNSUPPORTED');
    expect((err as ApiFailure).message).toMatch(/mptcp_pm does not exist/);
  });

  it('passes other kernel errors through', async () => {
    const sock = { request: () => Promise.reject(new NetlinkError(1, 'x')) } as unknown as NlSocket;
    await expect(resolveMptcpPm(sock)).rejects.toMatchObject({ code: 'EPERM' });
  });
});

describe('endpoint decoding (recorded GET_ADDR dump)', () => {
  const names = new Map([
    [1, 'lo'],
    [2, 'c0'],
    [3, 'c1'],
  ]);

  it('the oracle agrees with the expected values', () => {
    expect(fx.oracle.endpoints).toContain('10.99.2.1 id 1 rawflags 10');
    expect(fx.oracle.endpoints).toContain('10.99.1.1 port 10000 id 5 signal dev c0');
    expect(fx.oracle.endpoints).toContain('fd99:1::1 id 7 subflow backup fullmesh');
    expect(fx.oracle.endpoints).toContain('10.99.3.1 id 200 signal');
  });

  it('decodes addresses, ids, host-order ports, flags and the device', () => {
    const eps = fx.endpoints.map((r) => {
      const b = body(r);
      return decodeEndpointMessage(b, 0, b.length, names);
    });
    expect(eps).toEqual(expected);
    for (const e of eps) EndpointSchema.parse(e);
  });

  it('lists endpoints sorted by id, ignoring messages of another type', async () => {
    const shuffled = [...fx.endpoints].reverse();
    const sock = replaySocket([...shuffled, { type: 3, body: '' }]);
    const eps = await listEndpoints(
      sock,
      { familyId: recordedFamilyId, version: 1, groups: new Map() },
      names,
    );
    expect(eps.map((e) => e.id)).toEqual([1, 5, 7, 200]);
    expect(eps).toEqual(expected);
    expect(sock.sent[0]).toEqual({ type: recordedFamilyId, payload: hex('03010000') });
  });

  it('keeps the ifindex but no name when the interface is gone', () => {
    const b = body(fx.endpoints[1]);
    expect(decodeEndpointMessage(b, 0, b.length, new Map([[1, 'lo']]))).toMatchObject({
      ifindex: 2,
      ifname: null,
    });
    expect(decodeEndpointMessage(b, 0, b.length)).toMatchObject({ ifindex: 2, ifname: null });
  });

  it('keeps an unknown flag bit (0x40) in rawFlags next to the known ones', () => {
    // Hand-made: the kernel drops unknown bits on add, so no recording can hold one.
    const nest = nlaNested(1, [
      nlaU16(1, 2),
      nlaU8(2, 9),
      nla(3, Buffer.from([192, 0, 2, 7])),
      nlaU16(5, 0x1234),
      nlaU32(6, 0x40 | 0x10 | 0x20 | 0x02),
    ]);
    const b = Buffer.concat([Buffer.from([3, 1, 0, 0]), nest]);
    const ep = decodeEndpointMessage(b, 0, b.length);
    expect(ep).toEqual({
      id: 9,
      family: 'inet',
      address: '192.0.2.7',
      port: 0x1234,
      ifindex: null,
      ifname: null,
      flags: { ...noFlags, subflow: true, implicit: true, laminar: true },
      rawFlags: 0x72,
    });
  });
});

describe('limits', () => {
  it('decodes the recorded GET_LIMITS reply (subflows 5, add_addr_accepted 3)', async () => {
    expect(fx.oracle.limits).toContain('add_addr_accepted 3 subflows 5');
    expect(decodeLimits(body(fx.limits[0]))).toEqual({ subflows: 5, addAddrAccepted: 3 });
    const sock = replaySocket([], fx.limits);
    expect(await getLimits(sock, { familyId: recordedFamilyId, version: 1, groups: new Map() })).toEqual({
      subflows: 5,
      addAddrAccepted: 3,
    });
    expect(sock.sent[0]?.payload).toEqual(buildGetLimitsRequest());
    expect(buildGetLimitsRequest()).toEqual(hex('06010000'));
  });

  it('refuses a reply without the attributes', () => {
    expect(() => decodeLimits(hex('06010000'))).toThrow(/RCV_ADD_ADDRS/);
  });
});

/** Payloads `ip mptcp …` (iproute2 6.1) sent on this kernel, captured with strace -xx. */
describe('write request builders, byte-exact against iproute2', () => {
  it('endpoint add 10.99.1.1 id 3 port 10000 signal dev c0 (ifindex 3)', () => {
    const spec: EndpointWrite = {
      id: 3,
      address: '10.99.1.1',
      port: 10000,
      ifindex: 3,
      flags: { signal: true },
    };
    expect(buildAddEndpointRequest(spec)).toEqual(
      hex(`01010000 34000180 05000200 03000000 08000600 01000000 08000700 03000000
           06000500 10270000 06000100 02000000 08000300 0a630101`),
    );
  });

  it('endpoint add 10.99.2.1 subflow backup (kernel-allocated id)', () => {
    expect(buildAddEndpointRequest({ address: '10.99.2.1', flags: { subflow: true, backup: true } })).toEqual(
      hex('01010000 1c000180 08000600 06000000 06000100 02000000 08000300 0a630201'),
    );
  });

  it('endpoint add fd99::1 id 7 subflow fullmesh', () => {
    expect(
      buildAddEndpointRequest({
        id: 7,
        family: 'inet6',
        address: 'fd99::1',
        flags: { subflow: true, fullmesh: true },
      }),
    ).toEqual(
      hex(`01010000 30000180 05000200 07000000 08000600 0a000000 06000100 0a000000
           14000400 fd990000 00000000 00000000 00000001`),
    );
  });

  it('accepts an EndpointSpec from shared/plan (implicit absent, nulls for port and device)', () => {
    const spec = {
      id: 9,
      family: 'inet' as const,
      address: '10.99.3.1',
      port: null,
      ifindex: null,
      ifname: null,
      flags: { signal: true, subflow: false, backup: false, fullmesh: false, laminar: false },
    };
    expect(buildAddEndpointRequest(spec)).toEqual(
      hex('01010000 24000180 05000200 09000000 08000600 01000000 06000100 02000000 08000300 0a630301'),
    );
  });

  it('endpoint change id 7 backup', () => {
    expect(buildSetFlagsRequest({ id: 7, backup: true, fullmesh: false })).toEqual(
      hex('07010000 14000180 05000200 07000000 08000600 04000000'),
    );
  });

  it('set flags by address and port', () => {
    expect(
      buildSetFlagsRequest({ address: '10.99.1.1', port: 10000, backup: false, fullmesh: true }),
    ).toEqual(
      hex('07010000 24000180 08000600 08000000 06000500 10270000 06000100 02000000 08000300 0a630101'),
    );
  });

  it('endpoint delete id 9, flush, limits', () => {
    expect(buildDelEndpointRequest({ id: 9 })).toEqual(hex('02010000 0c000180 05000200 09000000'));
    expect(buildFlushEndpointsRequest()).toEqual(hex('04010000'));
    expect(buildSetLimitsRequest({ subflows: 8 })).toEqual(hex('05010000 08000300 08000000'));
    expect(buildSetLimitsRequest({ subflows: 5, addAddrAccepted: 3 })).toEqual(
      hex('05010000 08000200 03000000 08000300 05000000'),
    );
  });
});

describe('write validation (before anything is sent)', () => {
  const refuse = (f: () => unknown, message: RegExp): void => {
    let err: unknown = null;
    try {
      f();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiFailure);
    expect((err as ApiFailure).code).toBe('EINVAL');
    expect((err as ApiFailure).message).toMatch(message);
  };
  const add = (spec: Partial<EndpointWrite>) => () =>
    buildAddEndpointRequest({ address: '10.0.0.1', flags: {}, ...spec });

  it('signal and fullmesh are exclusive', () => {
    refuse(add({ flags: { signal: true, fullmesh: true } }), /^flags: signal and fullmesh/);
  });
  it('a port needs signal and not subflow', () => {
    refuse(add({ port: 10000, flags: { subflow: true } }), /^port: .*signal/);
    refuse(add({ port: 10000, flags: { signal: true, subflow: true } }), /^port: .*not the subflow/);
    refuse(add({ port: 70000, flags: { signal: true } }), /^port: must be an integer from 1 to 65535/);
  });
  it('implicit cannot be created', () => {
    refuse(add({ flags: { subflow: true, implicit: true } }), /^flags.implicit: /);
  });
  it('ids are 0..255', () => {
    refuse(add({ id: 256 }), /^id: must be an integer from 0 to 255/);
    refuse(add({ id: -1 }), /^id: /);
    refuse(add({ id: 1.5 }), /^id: /);
    refuse(() => buildDelEndpointRequest({ id: 300 }), /^id: /);
    refuse(() => buildDelEndpointRequest({ id: 0 }), /^address: deleting id 0/);
    refuse(() => buildSetFlagsRequest({ backup: true, fullmesh: false }), /^id: give the endpoint id/);
  });
  it('addresses must parse and match a given family', () => {
    refuse(add({ address: '10.0.0.256' }), /^address: "10.0.0.256" is not/);
    refuse(add({ address: 'fe80::1::2' }), /^address: /);
    refuse(add({ address: '10.0.0.1', family: 'inet6' }), /^family: inet6 does not match/);
  });
  it('limits are 0..8', () => {
    refuse(() => buildSetLimitsRequest({ subflows: 9 }), /^subflows: must be an integer from 0 to 8/);
    refuse(() => buildSetLimitsRequest({ addAddrAccepted: -1 }), /^addAddrAccepted: /);
    refuse(() => buildSetLimitsRequest({}), /^limits: /);
    expect(buildSetLimitsRequest({ subflows: 0, addAddrAccepted: 8 })).toEqual(
      hex('05010000 08000200 08000000 08000300 00000000'),
    );
  });
  it('laminar is accepted and encoded as 0x20', () => {
    expect(buildAddEndpointRequest({ address: '10.0.0.1', flags: { laminar: true } })).toEqual(
      hex('01010000 1c000180 08000600 20000000 06000100 02000000 08000300 0a000001'),
    );
  });
});
