/**
 * The rule and route messages of source routing (rules.ts): what the writer sends decodes back to
 * the same rule or route, and the guards that keep it to MPTCP Studio's own tables.
 */
import { describe, expect, it } from 'vitest';
import { sysctlPath } from '../config/writer';
import { buildRouteRequest, buildRuleRequest, decodeRule } from './rules';
import { decodeRoute } from './route';

describe('rule and route messages', () => {
  it('an RTM_NEWRULE body decodes back to the rule it asks for, with protocol 77', () => {
    const body = buildRuleRequest({
      family: 'inet',
      priority: 10000,
      src: '10.99.2.1',
      srcLen: 32,
      table: 10000,
    });
    expect(decodeRule(body, 0, body.length)).toEqual({
      family: 'inet',
      priority: 10000,
      src: '10.99.2.1',
      srcLen: 32,
      dst: null,
      dstLen: 0,
      table: 10000,
      action: 1,
      protocol: 77,
      iifname: null,
      oifname: null,
      fwmark: null,
    });
    const v6 = buildRuleRequest({
      family: 'inet6',
      priority: 10001,
      src: '2001:db8::2',
      srcLen: 128,
      table: 10001,
    });
    expect(decodeRule(v6, 0, v6.length)).toMatchObject({ family: 'inet6', src: '2001:db8::2', srcLen: 128 });
  });

  it('an RTM_NEWROUTE body decodes back to the route, with rtm_protocol 77 and its scope', () => {
    const body = buildRouteRequest({
      family: 'inet',
      table: 10000,
      dst: '10.99.2.0',
      dstLen: 24,
      gateway: null,
      ifindex: 3,
      ifname: 'c1',
      prefsrc: '10.99.2.1',
      scope: 253,
    });
    expect(decodeRoute(body, 0, body.length)).toMatchObject({
      family: 'inet',
      table: 10000,
      dst: '10.99.2.0',
      dstLen: 24,
      oif: 3,
      prefsrc: '10.99.2.1',
      type: 1,
    });
    expect([body[5], body[6]]).toEqual([77, 253]);
  });

  it('refuses a table outside MPTCP Studio’s range, a priority other than the table, a bad address', () => {
    const rule = { family: 'inet' as const, priority: 254, src: '10.0.0.1', srcLen: 32, table: 254 };
    expect(() => buildRuleRequest(rule)).toThrow(/not one of MPTCP Studio's/);
    expect(() => buildRuleRequest({ ...rule, table: 10000, priority: 5 })).toThrow(
      /priority 5 is not its table/,
    );
    expect(() => buildRuleRequest({ ...rule, table: 10000, priority: 10000, src: '2001:db8::1' })).toThrow(
      /not an inet address/,
    );
    const route = {
      family: 'inet' as const,
      table: 254,
      dst: null,
      dstLen: 0,
      gateway: '10.0.0.1',
      ifindex: 2,
      ifname: 'c0',
      prefsrc: null,
      scope: 0,
    };
    expect(() => buildRouteRequest(route)).toThrow(/not one of MPTCP Studio's/);
    expect(() => buildRouteRequest({ ...route, table: 10000, ifindex: 0 })).toThrow(/interface index/);
  });

  it('the sysctl writer takes rp_filter of one interface only, never all or default', () => {
    expect(sysctlPath('net.ipv4.conf.c1.rp_filter')).toBe('/proc/sys/net/ipv4/conf/c1/rp_filter');
    expect(sysctlPath('net.ipv4.conf.eth0.100.rp_filter')).toBe('/proc/sys/net/ipv4/conf/eth0.100/rp_filter');
    expect(() => sysctlPath('net.ipv4.conf.all.rp_filter')).toThrow(/may change/);
    expect(() => sysctlPath('net.ipv4.conf.default.rp_filter')).toThrow(/may change/);
    expect(() => sysctlPath('net.ipv4.conf.../rp_filter')).toThrow(/may change/);
    expect(() => sysctlPath('net.ipv4.conf.c1.forwarding')).toThrow(/may change/);
  });
});
