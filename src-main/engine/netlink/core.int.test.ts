import { describe, expect, it } from 'vitest';
import { labUnavailableReason } from '../../lab/lab';
import { NETLINK_ROUTE, NlSocket } from './core';
import { listInterfaces } from '../rtnl/interfaces';

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
});
