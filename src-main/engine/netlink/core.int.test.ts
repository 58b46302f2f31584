import { RawNetlinkSocket } from 'netlink';
import { describe, expect, it } from 'vitest';
import { labUnavailableReason } from '../../lab/lab';
import { buildRtmGetLinkRequest, listInterfaces } from '../rtnl/interfaces';
import { NETLINK_ROUTE, NLMSG_HDRLEN } from '../uapi/netlink';
import { RTM_GETLINK, RTM_NEWLINK } from '../uapi/rtnetlink';
import { NlSocket } from './core';

const until = async (what: string, ok: () => boolean, timeoutMs = 5000): Promise<void> => {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** A netlink message as another process would send it: pid 0, seq 0 (what a notification carries). */
function message(type: number, body: Buffer): Buffer {
  const hdr = Buffer.alloc(NLMSG_HDRLEN);
  hdr.writeUInt32LE(NLMSG_HDRLEN + body.length, 0);
  hdr.writeUInt16LE(type, 4);
  return Buffer.concat([hdr, body]);
}

describe.skipIf(labUnavailableReason() !== null)('NlSocket against the kernel', () => {
  it('queues concurrent dumps on one socket instead of getting EBUSY', async () => {
    const route = new NlSocket(NETLINK_ROUTE);
    try {
      const results = await Promise.all(Array.from({ length: 8 }, () => listInterfaces(route)));
      for (const r of results) expect(r.map((i) => i.name)).toEqual(results[0]?.map((i) => i.name));
      expect(results[0]?.some((i) => i.loopback)).toBe(true);
    } finally {
      route.close();
    }
  });

  // The binding calls us with MakeCallback from its libuv poll handler: an exception escaping the
  // listener there is a Napi::Error nothing catches and std::terminate kills this test worker.
  it('a throwing notification listener, called from the binding, is reported and the others still run', async () => {
    const errors: { err: unknown; where: string }[] = [];
    const route = new NlSocket(NETLINK_ROUTE, {
      onListenerError: (err, where) => errors.push({ err, where }),
    });
    // Unicast between two user sockets of this process (root: NL_CFG_F_NONROOT_SEND is not set).
    const peer = new RawNetlinkSocket(NETLINK_ROUTE);
    const seen: number[] = [];
    try {
      route.onNotification(() => {
        throw new Error('listener bug');
      });
      route.onNotification((_buf, type) => seen.push(type));
      for (let i = 0; i < 5; i++) peer.send(message(RTM_NEWLINK, Buffer.alloc(16)), { port: route.portId });
      await until('5 messages through the second listener', () => seen.length === 5);
      expect(errors).toHaveLength(5);
      expect((errors[0]?.err as Error).message).toBe('listener bug');
      expect(errors[0]?.where).toBe('a notification listener');
      // The socket still works for requests.
      expect((await listInterfaces(route)).some((i) => i.loopback)).toBe(true);
    } finally {
      peer.close();
      route.close();
    }
  });

  it('a throwing dump visitor fails its own dump only; the rest of it is not taken for notifications', async () => {
    const errors: unknown[] = [];
    const route = new NlSocket(NETLINK_ROUTE, { onListenerError: (err) => errors.push(err) });
    const notifications: number[] = [];
    try {
      route.onNotification((_buf, type) => notifications.push(type));
      let calls = 0;
      const failed = route.dump(RTM_GETLINK, buildRtmGetLinkRequest(), 'list interfaces', () => {
        calls++;
        throw new Error('visitor bug');
      });
      await expect(failed).rejects.toThrow('visitor bug');
      expect(calls).toBe(1);
      const again = await listInterfaces(route);
      expect(again.some((i) => i.loopback)).toBe(true);
      expect(notifications).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      route.close();
    }
  });

  it('after close: requests reject, memberships throw a plain error, nothing reaches the closed binding', async () => {
    const route = new NlSocket(NETLINK_ROUTE, { timeoutMs: 50 });
    const inFlight = route.dump(RTM_GETLINK, buildRtmGetLinkRequest(), 'list interfaces');
    route.close();
    await expect(inFlight).rejects.toThrow('netlink socket closed');
    await expect(route.request(RTM_GETLINK, buildRtmGetLinkRequest(), 'x')).rejects.toThrow(
      'netlink socket closed',
    );
    expect(() => route.addMembership(1)).toThrow('netlink socket closed');
    route.close(); // twice: no "Netlink socket is closed" from the binding
    await new Promise((r) => setTimeout(r, 100)); // past the request timeout: no late settle throws
  });
});
